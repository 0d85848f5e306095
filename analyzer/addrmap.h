/*
 * addrmap.h - a table of fixed-size records keyed by a nonzero address: the
 * live set of the heap replay (heap.c) and the address -> node map of the
 * generational model (generations.c).
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones, so a long run of malloc/free churn never degrades it);
 * address 0 marks an empty slot, which is safe because no allocator hands
 * out address 0. A record is any struct whose first member is
 * `uint64_t addr` and whose size is a multiple of 8; the table stores
 * copies. The capacity starts at ADDRMAP_INITIAL, is a power of two and
 * doubles when an insert would fill more than three quarters of it.
 *
 * Calling order: addrmap_init, then addrmap_find / addrmap_insert /
 * addrmap_remove / addrmap_at in any order, addrmap_release. A pointer
 * returned by addrmap_find or addrmap_at is valid until the next insert or
 * remove.
 */
#ifndef REFSCOPE_ADDRMAP_H
#define REFSCOPE_ADDRMAP_H

#include <stddef.h>
#include <stdint.h>

#define ADDRMAP_INITIAL 1024

struct addrmap {
	unsigned char *slots; /* cap records of size bytes */
	size_t cap, count;
	size_t size;
};

/* Returns 0 or -ENOMEM. */
int addrmap_init(struct addrmap *m, size_t record_size);
void addrmap_release(struct addrmap *m);
/* Copies rec, whose addr (nonzero) is not in the table. Returns 0 or
 * -ENOMEM (the table is unchanged). */
int addrmap_insert(struct addrmap *m, const void *rec);
/* Removes the record rec points to (a pointer into the table). */
void addrmap_remove(struct addrmap *m, void *rec);

static inline size_t addrmap_hash(uint64_t addr, size_t cap)
{
	return (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static inline uint64_t addrmap_addr(const struct addrmap *m, size_t i)
{
	return *(const uint64_t *)(const void *)(m->slots + i * m->size);
}

/* The record for addr (nonzero), or NULL. Inline: it runs for every event. */
static inline void *addrmap_find(const struct addrmap *m, uint64_t addr)
{
	size_t i = addrmap_hash(addr, m->cap);
	uint64_t a;

	while ((a = addrmap_addr(m, i)) != 0) {
		if (a == addr)
			return m->slots + i * m->size;
		i = (i + 1) & (m->cap - 1);
	}
	return NULL;
}

/* Slot i (< m->cap): its record, or NULL when it is empty. */
static inline void *addrmap_at(const struct addrmap *m, size_t i)
{
	return addrmap_addr(m, i) ? m->slots + i * m->size : NULL;
}

#endif
