/*
 * stacks.h - interning call stacks into small ids.
 *
 * A stack (innermost first) gets an id >= 1 the first time any thread sees
 * it; the thread that created the id writes the STACK record into its own
 * buffer before it returns, so the record precedes that thread's first event
 * using it. Lookups go through the buffer's direct-mapped cache, then a
 * global lock-free hash table in mmap'd memory (insert by compare-and-swap on
 * the bucket head). Returns 0 ("no stack") when out of table memory.
 */
#ifndef REFSCOPE_STACKS_H
#define REFSCOPE_STACKS_H

#include <stdint.h>

struct rs_tbuf;

int rs_stacks_init(void);
/* Drop every id (fork child: its trace starts with no stacks). */
int rs_stacks_reset(void);
uint32_t rs_stacks_intern(struct rs_tbuf *tb, const uintptr_t *ips, unsigned n, int *is_new);
uint32_t rs_stacks_count(void);

#endif /* REFSCOPE_STACKS_H */
