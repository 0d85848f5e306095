/*
 * fault_fds - a program that takes descriptor numbers for itself.
 *
 * usage: fault_fds MODE DIR, MODE one of
 *   close_range  close_range(3, ~0U, 0) first thing
 *   close_loop   close() every number from 3 up to the descriptor limit
 *   closefrom    closefrom(3)
 *   dup2         closes nothing, but dup2s one of its own files onto every
 *                number that was open (>= 3) when main started: a tracer's
 *                descriptors, say
 *   dup3         the same with dup3(..., O_CLOEXEC)
 * In every mode it then dup2s its own files DIR/own.N onto 3..9, while a
 * second thread allocates and frees blocks of 6300 bytes (a tracer writes
 * from both threads while the numbers change hands). Then ROUNDS
 * rounds of: allocate and free PAIRS blocks of 6000 bytes (enough events for
 * a tracer to write many times) and JIT_CALLS blocks of 6200 bytes through
 * code without unwind information at a new address each time (an unwinder
 * must check addresses there), then one line "round R fd N" to each of its
 * files. Then it opens /dev/null and prints the number it got (the lowest
 * free one), checks that every file holds exactly its lines, read back by
 * path, leaks 4 blocks of 6100 bytes and prints "fds MODE ok" (exit 0) or
 * what differs (exit 1).
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define ROUNDS 4
#define PAIRS 20000
#define MAXFDS 512
#define JIT_CALLS 16

static int nums[MAXFDS], nnums;
static void *volatile sink;
static atomic_int stop, started;

static void *churn(void *arg)
{
	(void)arg;
	atomic_store(&started, 1);
	while (!atomic_load(&stop)) {
		void *volatile p = malloc(6300);

		free(p);
	}
	return NULL;
}

static void add(int n)
{
	for (int i = 0; i < nnums; i++)
		if (nums[i] == n)
			return;
	if (nnums < MAXFDS)
		nums[nnums++] = n;
}

/* Every descriptor >= 3 open now, without allocating (getdents by hand
 * would do; opendir allocates, which is fine for the program itself). */
static void open_at_start(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		exit(2);
	while ((e = readdir(d)) != NULL) {
		int n = atoi(e->d_name);

		if (e->d_name[0] != '.' && n >= 3 && n != dirfd(d))
			add(n);
	}
	closedir(d);
}

/* push rbp; mov rbp,rsp; mov rax,rdi; mov rdi,rsi; call rax; pop rbp; ret:
 * calls fn(n) from code with no unwind information (as JIT code is) */
static const unsigned char stub_code[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0x89, 0xf8, 0x48,
					   0x89, 0xf7, 0xff, 0xd0, 0x5d, 0xc3 };
typedef void *(*stub_fn)(void *(*fn)(size_t), size_t n);

/* A stub on a page of its own, at a new address each time. */
static stub_fn fresh_stub(void)
{
	unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				   -1, 0);

	if (page == MAP_FAILED)
		exit(6);
	memcpy(page + 64, stub_code, sizeof(stub_code));
	if (mprotect(page, 4096, PROT_READ | PROT_EXEC))
		exit(6);
	return (stub_fn)(void *)(page + 64);
}

__attribute__((noinline)) static void work(void)
{
	for (int i = 0; i < PAIRS; i++) {
		sink = malloc(6000);
		free(sink);
	}
	for (int i = 0; i < JIT_CALLS; i++)
		free(fresh_stub()(malloc, 6200));
}

static void line(char *buf, size_t cap, int r, int n)
{
	snprintf(buf, cap, "round %d fd %d\n", r, n);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[1] : "";
	char path[4096], buf[128], want[8192], got[8192];
	int bad = 0, late;
	int use_dup3 = !strcmp(mode, "dup3"), takes = use_dup3 || !strcmp(mode, "dup2");
	pthread_t t;

	if (argc < 3)
		return 2;
	open_at_start();
	if (!strcmp(mode, "close_range")) {
		if (close_range(3, ~0U, 0) != 0)
			return 3;
	} else if (!strcmp(mode, "close_loop")) {
		struct rlimit rl;
		long max = 65536;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max)
			max = (long)rl.rlim_cur;
		for (long n = 3; n < max; n++)
			close((int)n);
	} else if (!strcmp(mode, "closefrom")) {
		closefrom(3);
	} else if (!takes) {
		return 2;
	}
	if (!takes)
		nnums = 0;	/* closed: those numbers are nobody's now */
	if (pthread_create(&t, NULL, churn, NULL))
		return 7;
	while (!atomic_load(&started))
		;
	for (int n = 3; n <= 9; n++)
		add(n);
	for (int i = 0; i < nnums; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/own.%d", argv[2], nums[i]);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return 4;
		if (fd != nums[i]) {
			if ((use_dup3 ? dup3(fd, nums[i], O_CLOEXEC) : dup2(fd, nums[i])) != nums[i])
				return 5;
			close(fd);
		}
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	for (int r = 0; r < ROUNDS; r++) {
		work();
		for (int i = 0; i < nnums; i++) {
			line(buf, sizeof(buf), r, nums[i]);
			if (write(nums[i], buf, strlen(buf)) != (ssize_t)strlen(buf))
				bad++;
		}
	}
	late = open("/dev/null", O_RDONLY | O_CLOEXEC);
	printf("late open -> %d\n", late);
	for (int i = 0; i < nnums; i++) {
		FILE *f;
		size_t n;

		want[0] = '\0';
		for (int r = 0; r < ROUNDS; r++) {
			line(buf, sizeof(buf), r, nums[i]);
			strcat(want, buf);
		}
		snprintf(path, sizeof(path), "%s/own.%d", argv[2], nums[i]);
		f = fopen(path, "r");
		n = f ? fread(got, 1, sizeof(got) - 1, f) : 0;
		got[n] = '\0';
		if (f)
			fclose(f);
		if (strcmp(got, want) != 0) {
			if (nums[i] <= 9)	/* the same numbers in every run */
				printf("fd %d differs\n", nums[i]);
			bad++;
		}
	}
	for (int i = 0; i < 4; i++)
		sink = malloc(6100);
	printf("fds %s %s\n", mode, bad ? "FAILED" : "ok");
	return bad ? 1 : 0;
}
