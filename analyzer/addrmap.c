/*
 * addrmap.c - the address-keyed record table (see addrmap.h).
 */
#include "addrmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int addrmap_init(struct addrmap *m, size_t record_size)
{
	m->cap = ADDRMAP_INITIAL;
	m->count = 0;
	m->size = record_size;
	m->slots = calloc(m->cap, record_size);
	return m->slots ? 0 : -ENOMEM;
}

void addrmap_release(struct addrmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}

/* A memcpy of a size known at compile time is a few moves; the records of
 * heap.c (24 bytes) and generations.c (16) take those paths. */
static inline void copy_words(unsigned char *dst, const unsigned char *src, size_t size)
{
	if (size == 16)
		memcpy(dst, src, 16);
	else if (size == 24)
		memcpy(dst, src, 24);
	else
		memcpy(dst, src, size);
}

static inline void put(unsigned char *slots, size_t cap, size_t size, const void *rec)
{
	size_t i = addrmap_hash(*(const uint64_t *)rec, cap);

	while (*(const uint64_t *)(const void *)(slots + i * size))
		i = (i + 1) & (cap - 1);
	copy_words(slots + i * size, rec, size);
}

int addrmap_insert(struct addrmap *m, const void *rec)
{
	if ((m->count + 1) * 4 > m->cap * 3) {
		size_t cap = m->cap * 2;
		unsigned char *n = calloc(cap, m->size);

		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (addrmap_addr(m, i))
				put(n, cap, m->size, m->slots + i * m->size);
		free(m->slots);
		m->slots = n;
		m->cap = cap;
	}
	put(m->slots, m->cap, m->size, rec);
	m->count++;
	return 0;
}

/* Backward-shift deletion: pulls later members of the probe run into the
 * hole so that every lookup still finds them without tombstones. */
void addrmap_remove(struct addrmap *m, void *rec)
{
	size_t mask = m->cap - 1;
	size_t hole = (size_t)((unsigned char *)rec - m->slots) / m->size;
	size_t i = hole;

	for (;;) {
		uint64_t a;
		size_t home;

		i = (i + 1) & mask;
		a = addrmap_addr(m, i);
		if (!a)
			break;
		home = addrmap_hash(a, m->cap);
		/* move i into the hole when its home is not in (hole, i] */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			copy_words(m->slots + hole * m->size, m->slots + i * m->size, m->size);
			hole = i;
		}
	}
	*(uint64_t *)(void *)(m->slots + hole * m->size) = 0;
	m->count--;
}
