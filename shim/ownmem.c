/*
 * ownmem.c - a fixed table of the shim's own mappings (see ownmem.h).
 *
 * A small spin lock guards it: registrations happen once per mapping
 * (a buffer, a workspace), never per event.
 */
#include "ownmem.h"

#include <stdatomic.h>

static struct rs_range table[RS_OWN_MAX];
static size_t n;
static atomic_int lock;
static atomic_int overflow;

static void take(void)
{
	while (atomic_exchange_explicit(&lock, 1, memory_order_acquire))
		__builtin_ia32_pause();
}

static void give(void)
{
	atomic_store_explicit(&lock, 0, memory_order_release);
}

void rs_own_add(const void *start, size_t len)
{
	if (!start || !len)
		return;
	take();
	if (n < RS_OWN_MAX) {
		table[n].start = (uintptr_t)start;
		table[n].end = (uintptr_t)start + len;
		n++;
	} else {
		atomic_store(&overflow, 1);
	}
	give();
}

void rs_own_remove(const void *start, size_t len)
{
	uintptr_t s = (uintptr_t)start, e = s + len;

	take();
	for (size_t i = 0; i < n; i++) {
		if (table[i].start == s && table[i].end == e) {
			table[i] = table[--n];
			break;
		}
	}
	give();
}

size_t rs_own_copy(struct rs_range *out, size_t cap)
{
	size_t k;

	take();
	k = n;
	for (size_t i = 0; i < k && i < cap; i++)
		out[i] = table[i];
	give();
	return k;
}

int rs_own_overflowed(void)
{
	return atomic_load(&overflow);
}

void rs_own_after_fork(void)
{
	atomic_store(&lock, 0);
}
