/*
 * cycles.h - strongly connected components of a directed graph, without
 * recursion (Tarjan's algorithm with an explicit stack), so a ring or a
 * chain of millions of nodes needs heap memory, not call stack.
 *
 * The graph is in CSR form: the successors of node v are
 * adj[off[v] .. off[v + 1]). Only nodes with member[v] != 0 take part
 * (member NULL: all); edges to other nodes are ignored. comp[v] receives
 * the component of v, numbered 0.. in the order Tarjan completes them
 * (a component comes before every component that reaches it), or
 * CYCLES_NONE for a node that does not take part.
 */
#ifndef REFSCOPE_CYCLES_H
#define REFSCOPE_CYCLES_H

#include <stddef.h>
#include <stdint.h>

#define CYCLES_NONE UINT32_MAX

/* Returns 0 or -ENOMEM; *ncomp gets the number of components. */
int cycles_scc(uint32_t n, const size_t *off, const uint32_t *adj, const uint8_t *member,
	       uint32_t *comp, uint32_t *ncomp);

#endif
