/*
 * ownmem.h - the registry of the shim's own memory, so a heap snapshot never
 * scans it and never takes a pointer into it for a heap pointer.
 *
 * Every mapping the shim makes for itself (event buffers, compression
 * workspaces, the stack table, the snapshot thread's stack and work buffers)
 * is registered here right after mmap and removed before munmap. The shim's
 * own static data (librefscope.so's writable segments, the bootstrap pool in
 * its .bss) is found by the snapshot itself from the module list.
 *
 * Contract: add/remove may be called from any thread, never from a signal
 * handler; rs_own_copy gives a consistent copy. No malloc anywhere.
 */
#ifndef REFSCOPE_OWNMEM_H
#define REFSCOPE_OWNMEM_H

#include <stddef.h>
#include <stdint.h>

struct rs_range {
	uintptr_t start, end;	/* [start, end) */
};

#define RS_OWN_MAX 8192

void rs_own_add(const void *start, size_t len);
void rs_own_remove(const void *start, size_t len);
/* Copies at most cap ranges into out; returns how many there are (may be
 * more than cap). */
size_t rs_own_copy(struct rs_range *out, size_t cap);
/* Non-zero when a registration was lost because the table was full. */
int rs_own_overflowed(void);
/* Fork child: another thread may have held the lock at fork. */
void rs_own_after_fork(void);

#endif /* REFSCOPE_OWNMEM_H */
