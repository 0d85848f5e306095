/*
 * snapshots - asks refscope for heap snapshots at defined points.
 *
 *   1. a ring of three 32-byte nodes is built and kept in the global `ring`;
 *      refscope_snapshot() (snapshot 0: the ring is reachable);
 *   2. `ring` is dropped: the ring is now a leaked cycle;
 *      refscope_snapshot() (snapshot 1: the ring is garbage);
 *   3. then, by argument:
 *        (none)          exit at once;
 *        wait            write "ready", read stdin until EOF (the caller sends
 *                        the snapshot signal meanwhile), then exit;
 *        sleep MS        sleep MS milliseconds, then exit;
 *        pthread_exit    a helper thread sleeps 300 ms; main calls pthread_exit;
 *        fork            the child sleeps 1500 ms, asks for a snapshot
 *                        ("snapshot 2: RC") and exits; the parent waits for it;
 *        threads         two threads each allocate a 40-byte block, keep the
 *                        only pointer to it in a local on their stack and block
 *                        in read(2); main asks for a snapshot ("snapshot 2:
 *                        RC"), then lets them free their blocks and end.
 * Each refscope_snapshot() result is written as "snapshot N: RC" (0 under
 * refscope, -1 without it). No stdio.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "refscope.h"

struct node {
	struct node *next;
	long id;
	char pad[16];
};

struct node *ring;

static void say(const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = write(1, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void report(int n, int rc)
{
	char what[] = "snapshot N: ";

	what[9] = (char)('0' + n);
	say(what);
	say(rc == 0 ? "0\n" : rc == -1 ? "-1\n" : "?\n");
}

__attribute__((noinline)) static struct node *make_ring(int n)
{
	struct node *first = NULL, *prev = NULL;

	for (int i = 0; i < n; i++) {
		struct node *x = calloc(1, sizeof(*x));

		if (!x)
			exit(1);
		x->id = i;
		if (prev)
			prev->next = x;
		else
			first = x;
		prev = x;
	}
	prev->next = first;
	return first;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static int ready[2], go[2];

static void *holder(void *arg)
{
	void *volatile slot = malloc(40);	/* on this thread's stack only */
	pid_t tid = gettid();
	char c = 0;

	(void)arg;
	if (write(ready[1], &tid, sizeof(tid)) != sizeof(tid) || read(go[0], &c, 1) < 0)
		c = 1;
	free(slot);
	return NULL;
}

/* Waits (up to 5 s) until the thread sleeps in the kernel: state S. */
static void wait_asleep(pid_t tid)
{
	char path[64] = "/proc/self/task/", st[256];
	size_t k = strlen(path);
	char num[16];
	int nd = 0;

	do {
		num[nd++] = (char)('0' + tid % 10);
		tid /= 10;
	} while (tid);
	while (nd)
		path[k++] = num[--nd];
	memcpy(path + k, "/stat", 6);
	for (int i = 0; i < 500; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t n = fd < 0 ? -1 : read(fd, st, sizeof(st) - 1);
		char *p;

		if (fd >= 0)
			close(fd);
		if (n > 0) {
			st[n] = 0;
			p = strrchr(st, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return;
		}
		sleep_ms(10);
	}
}

static void *helper(void *arg)
{
	(void)arg;
	sleep_ms(300);
	return NULL;
}

int main(int argc, char **argv)
{
	char buf[64];
	pthread_t t;

	ring = make_ring(3);
	report(0, refscope_snapshot());
	ring = NULL;
	report(1, refscope_snapshot());
	if (argc > 1 && strcmp(argv[1], "wait") == 0) {
		say("ready\n");
		while (read(0, buf, sizeof(buf)) > 0)
			;
	} else if (argc > 2 && strcmp(argv[1], "sleep") == 0) {
		sleep_ms(atol(argv[2]));
	} else if (argc > 1 && strcmp(argv[1], "pthread_exit") == 0) {
		if (pthread_create(&t, NULL, helper, NULL) != 0)
			return 2;
		pthread_exit(NULL);
	} else if (argc > 1 && strcmp(argv[1], "threads") == 0) {
		pthread_t h[2];
		pid_t tid;

		if (pipe(ready) || pipe(go))
			return 2;
		for (int i = 0; i < 2; i++) {
			if (pthread_create(&h[i], NULL, holder, NULL) != 0 ||
			    read(ready[0], &tid, sizeof(tid)) != sizeof(tid))
				return 2;
			wait_asleep(tid);	/* inside read(2) */
		}
		report(2, refscope_snapshot());
		close(go[1]);
		for (int i = 0; i < 2; i++)
			pthread_join(h[i], NULL);
	} else if (argc > 1 && strcmp(argv[1], "fork") == 0) {
		pid_t pid = fork();
		int st;

		if (pid < 0)
			return 2;
		if (pid == 0) {
			sleep_ms(1500);
			report(2, refscope_snapshot());
			exit(0);
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 3;
	}
	return 0;
}
