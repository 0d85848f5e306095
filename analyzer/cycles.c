/*
 * cycles.c - Tarjan's strongly connected components with an explicit call
 * stack (see cycles.h). Each frame is a node and the position of the next
 * edge to look at; "returning" from a frame folds its low link into its
 * parent's, as the recursive version does after the call.
 */
#include "cycles.h"

#include <errno.h>
#include <stdlib.h>

#define UNVISITED UINT32_MAX

struct frame {
	uint32_t v;
	size_t pos;
};

int cycles_scc(uint32_t n, const size_t *off, const uint32_t *adj, const uint8_t *member,
	       uint32_t *comp, uint32_t *ncomp)
{
	uint32_t *index = malloc((n ? n : 1) * sizeof(*index));
	uint32_t *low = malloc((n ? n : 1) * sizeof(*low));
	uint32_t *stack = malloc((n ? n : 1) * sizeof(*stack));
	struct frame *calls = malloc((n ? n : 1) * sizeof(*calls));
	uint32_t counter = 0, nstack = 0, ncalls = 0, nc = 0;

	*ncomp = 0;
	if (!index || !low || !stack || !calls) {
		free(index);
		free(low);
		free(stack);
		free(calls);
		return -ENOMEM;
	}
	for (uint32_t v = 0; v < n; v++) {
		index[v] = UNVISITED;
		comp[v] = CYCLES_NONE;
	}
	for (uint32_t s = 0; s < n; s++) {
		if ((member && !member[s]) || index[s] != UNVISITED)
			continue;
		index[s] = low[s] = counter++;
		stack[nstack++] = s;
		calls[ncalls++] = (struct frame){ s, off[s] };
		while (ncalls) {
			struct frame *f = &calls[ncalls - 1];
			uint32_t v = f->v;

			if (f->pos < off[v + 1]) {
				uint32_t w = adj[f->pos++];

				if (member && !member[w])
					continue;
				if (index[w] == UNVISITED) {
					index[w] = low[w] = counter++;
					stack[nstack++] = w;
					calls[ncalls++] = (struct frame){ w, off[w] };
				} else if (comp[w] == CYCLES_NONE && index[w] < low[v]) {
					/* w is still on the stack: not yet in a component */
					low[v] = index[w];
				}
				continue;
			}
			ncalls--;
			if (low[v] == index[v]) {
				uint32_t w;

				do {
					w = stack[--nstack];
					comp[w] = nc;
				} while (w != v);
				nc++;
			}
			if (ncalls) {
				uint32_t u = calls[ncalls - 1].v;

				if (low[v] < low[u])
					low[u] = low[v];
			}
		}
	}
	free(index);
	free(low);
	free(stack);
	free(calls);
	*ncomp = nc;
	return 0;
}
