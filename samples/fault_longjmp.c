/*
 * fault_longjmp - leaves nested calls that allocated by longjmp.
 *
 * ROUNDS = 20 rounds: nest(1) recurses to depth 10, each level allocating a
 * block of 8000 + depth bytes recorded in held[depth]; the deepest level
 * jumps back to main: with longjmp in even rounds, with raise(SIGUSR1) and
 * siglongjmp from the handler in odd ones. Main then frees the blocks of
 * odd depths. Truth: 200 blocks of 8001..8010 bytes allocated, 100 freed,
 * 100 blocks (20 x 40030 = 800600 bytes) live at exit, all from nest.
 * Prints "longjmp 20 ok".
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define ROUNDS 20
#define DEPTH 10

static sigjmp_buf env;
static void *held[DEPTH + 1];
static volatile int use_signal;

static void on_usr1(int sig)
{
	(void)sig;
	siglongjmp(env, 2);
}

__attribute__((noinline)) static void nest(int depth)
{
	held[depth] = malloc(8000 + (size_t)depth);
	if (depth == DEPTH) {
		if (use_signal)
			raise(SIGUSR1);
		siglongjmp(env, 1);
	}
	nest(depth + 1);
	__asm__ volatile("" ::: "memory");	/* not a tail call: a real frame per level */
}

int main(void)
{
	struct sigaction sa = { 0 };
	volatile int jumps = 0;

	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		return 1;
	for (volatile int r = 0; r < ROUNDS; r++) {
		use_signal = r & 1;
		if (sigsetjmp(env, 1) == 0) {
			nest(1);
			return 1;	/* never: nest always jumps */
		}
		jumps++;
		for (int d = 1; d <= DEPTH; d += 2)
			free(held[d]);
	}
	printf("longjmp %d %s\n", jumps, jumps == ROUNDS ? "ok" : "FAILED");
	return 0;
}
