/*
 * shim.c - the life of a trace: lazy init, thread start and exit, fork, exec
 * and the ways a process ends.
 *
 * Init happens at the first hook call once libc has set up environ (or in
 * our constructor, whichever comes first); events before it are dropped.
 * The trace file is created O_EXCL|O_NOFOLLOW, 0600, and gets the header,
 * PROCESS and the MODULE records before tracing is switched on. A fork child
 * throws away the parent's buffered events and stacks and starts its own
 * trace; exec writes END(EXEC) first; exit writes END from a late destructor.
 */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap.h"
#include "guard.h"
#include "modules.h"
#include "ownmem.h"
#include "refapi.h"
#include "refscope_format.h"
#include "stacks.h"
#include "unwind.h"

__thread struct rs_thread rs_self __attribute__((tls_model("initial-exec")));
struct rs_options rs_opt;

enum { ST_UNINIT, ST_INITING, ST_READY, ST_OFF };
static atomic_int state;
static atomic_int ending;	/* END for exit/abort/signal written (one winner) */
static pid_t trace_pid;
static pthread_key_t thread_key;
static int have_key;
static volatile int exit_status = -1;

static char cmdline[64 << 10];
static size_t cmdline_len;
static char exe[PATH_MAX];
static uint8_t procrec[sizeof(cmdline) + PATH_MAX + 128];

static uint32_t my_tid(void)
{
	if (!rs_self.tid)
		rs_self.tid = (uint32_t)syscall(SYS_gettid);
	return rs_self.tid;
}

static void read_cmdline(void)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	cmdline_len = 0;
	if (fd < 0)
		return;
	while (cmdline_len < sizeof(cmdline) - 1) {
		n = read(fd, cmdline + cmdline_len, sizeof(cmdline) - 1 - cmdline_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		cmdline_len += (size_t)n;
	}
	close(fd);
	/* a truncated last argument still ends with NUL */
	if (cmdline_len && cmdline[cmdline_len - 1] != 0)
		cmdline[cmdline_len++] = 0;
}

static size_t put_str(uint8_t *p, const char *s, size_t n)
{
	size_t k = rs_put_uvarint(p, n);

	memcpy(p + k, s, n);
	return k + n;
}

/* Trace file name part: basename of argv[0], [A-Za-z0-9._+-] kept. */
static void prog_name(char *out, size_t cap)
{
	const char *s = program_invocation_short_name;
	size_t n = 0;

	if (!s || !*s) {
		s = cmdline_len ? cmdline : "unknown";
		if (strrchr(s, '/'))
			s = strrchr(s, '/') + 1;
	}
	for (; *s && n < cap - 1; s++) {
		char c = *s;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' || c == '-';

		out[n++] = ok ? c : '_';
	}
	if (!n)
		out[n++] = '_';
	out[n] = 0;
}

static size_t put_dec(char *p, unsigned long v)
{
	char t[24];
	size_t k = 0, n = 0;

	do {
		t[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (k)
		p[n++] = t[--k];
	return n;
}

static int create_file(char *path, size_t cap)
{
	char prog[256];
	char dir[PATH_MAX];
	size_t dl = 0;
	pid_t pid = getpid();

	/* absolute, so reopening a lost descriptor survives the program's chdir */
	if (rs_opt.output_dir[0] != '/') {
		if (!getcwd(dir, sizeof(dir)))	/* a caller buffer: getcwd does not allocate */
			return -errno;
		dl = strlen(dir);
		if (strcmp(rs_opt.output_dir, ".") != 0 && dl + 1 < sizeof(dir)) {
			dir[dl++] = '/';
			dir[dl] = 0;
		}
	}
	if (strcmp(rs_opt.output_dir, ".") != 0 || rs_opt.output_dir[0] == '/') {
		size_t ol = strlen(rs_opt.output_dir);

		if (dl + ol >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir + dl, rs_opt.output_dir, ol + 1);
		dl += ol;
	}
	prog_name(prog, sizeof(prog));
	if (dl + strlen(prog) + 64 > cap)
		return -ENAMETOOLONG;
	for (unsigned n = 0; n < 100000; n++) {
		size_t k = 0;
		int fd;

		memcpy(path, dir, dl);
		k = dl;
		memcpy(path + k, "/refscope.", 10);
		k += 10;
		memcpy(path + k, prog, strlen(prog));
		k += strlen(prog);
		path[k++] = '.';
		k += put_dec(path + k, (unsigned long)pid);
		if (n) {
			path[k++] = '.';
			k += put_dec(path + k, n);
		}
		memcpy(path + k, ".trace", 7);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_APPEND, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int write_all(int fd, const void *b, size_t n)
{
	const uint8_t *p = b;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Creates the trace, writes header + PROCESS, hands the fd to the writer. */
static int open_trace(unsigned origin)
{
	static char path[PATH_MAX + 64];
	struct rs_file_header h = { 0 };
	uint8_t hb[RS_FILE_HEADER_SIZE];
	struct rs_writer_config cfg;
	uint8_t *p = procrec + 1 + RS_UVARINT_MAX, *start = p;
	uint8_t hdr[1 + RS_UVARINT_MAX];
	size_t hn = 0, argc = 0;
	ssize_t el;
	int fd = create_file(path, sizeof(path));

	if (fd < 0)
		return fd;
	h.version = RS_FORMAT_VERSION;
	h.header_size = RS_FILE_HEADER_SIZE;
	h.flags = RS_HDR_LITTLE_ENDIAN;
	h.pid = (uint32_t)getpid();
	h.ppid = (uint32_t)getppid();
	h.start_realtime = rs_clock_ns(CLOCK_REALTIME);
	h.start_monotonic = rs_clock_ns(CLOCK_MONOTONIC);
	h.pointer_size = sizeof(void *);
	rs_header_encode(hb, &h);

	el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (el < 0)
		el = 0;
	for (size_t i = 0; i < cmdline_len; i++)
		argc += cmdline[i] == 0;
	p += rs_put_uvarint(p, h.pid);
	p += rs_put_uvarint(p, h.ppid);
	p += put_str(p, exe, (size_t)el);
	p += rs_put_uvarint(p, argc);
	for (size_t i = 0; i < cmdline_len;) {
		size_t n = strlen(cmdline + i);

		p += put_str(p, cmdline + i, n);
		i += n + 1;
	}
	p += rs_put_uvarint(p, rs_opt.depth);
	p += rs_put_uvarint(p, (uint64_t)sysconf(_SC_PAGESIZE));
	p += rs_put_uvarint(p, origin);
	hdr[hn++] = RS_REC_PROCESS;
	hn += rs_put_uvarint(hdr + hn, (uint64_t)(p - start));
	memcpy(start - hn, hdr, hn);
	if (write_all(fd, hb, sizeof(hb)) < 0 ||
	    write_all(fd, start - hn, (size_t)(p - start) + hn) < 0) {
		close(fd);
		return -EIO;
	}
	cfg.fd = fd;
	cfg.path = path;
	cfg.compress = rs_opt.compress;
	cfg.buf_size = rs_opt.buffer_bytes;
	cfg.time_shift = RS_PACK_TIME_SHIFT;
	cfg.exact_order = rs_opt.exact_order;
	cfg.max_age_ns = (uint64_t)rs_opt.flush_ms * 1000000u;
	cfg.quiet = rs_opt.quiet;
	cfg.start_mono = h.start_monotonic;
	trace_pid = (pid_t)h.pid;
	if (rs_writer_open(&cfg) < 0) {
		close(fd);
		return -EBADF;
	}
	return 0;
}

/* One line on stderr with write(2): no stdio inside the shim. */
static void complain(const char *what, int err)
{
	char line[2400];
	size_t n = 0, k;
	ssize_t w;

	if (rs_opt.quiet)
		return;
	k = strlen("refscope: ");
	memcpy(line, "refscope: ", k);
	n = k;
	k = strlen(what);
	if (k > 200)
		k = 200;
	memcpy(line + n, what, k);
	n += k;
	k = strlen(rs_opt.output_dir);
	if (k > 2000)
		k = 2000;
	memcpy(line + n, rs_opt.output_dir, k);
	n += k;
	memcpy(line + n, " (errno ", 8);
	n += 8;
	n += put_dec(line + n, (unsigned long)(err < 0 ? -err : err));
	line[n++] = ')';
	line[n++] = '\n';
	w = write(2, line, n);	/* best effort */
	(void)w;
}

/* REFSCOPE_UNWIND_CHECK's report goes to a copy of stderr made at init,
 * high up beside the trace's: many programs close stderr before they exit
 * (coreutils' close_stdout). */
static int check_fd = -1;

static void thread_gone(void *v);
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void main_thread_start(void)
{
	struct rs_tbuf *tb;

	if (my_tid() != (uint32_t)getpid())
		return;
	tb = rs_shim_tbuf();
	if (tb)
		rs_ev_thread_start(tb, 0, rs_writer_time(tb), 0);
}

static void init_locked(void)
{
	int err;

	rs_options_parse(&rs_opt);
	if (getauxval(AT_SECURE) || rs_opt.disable)
		goto off;
	read_cmdline();
	if (rs_stacks_init() < 0 || rs_unwind_init() < 0)
		goto off;
	if (rs_unwind_checking && check_fd < 0)
		check_fd = fcntl(2, F_DUPFD_CLOEXEC, rs_writer_fd_floor());
	if (!have_key) {
		if (pthread_key_create(&thread_key, thread_gone) != 0)
			goto off;
		have_key = 1;
		pthread_atfork(fork_prepare, fork_parent, fork_child);
	}
	err = open_trace(RS_ORIGIN_START);
	if (err < 0) {
		complain("cannot create a trace file in ", err);
		goto off;
	}
	rs_modules_scan();
	main_thread_start();
	rs_refapi_hit_fn = rs_shim_refapi_hit;
	rs_refapi_init(getenv("REFSCOPE_REFAPI"));
	rs_refapi_scan((const void *)&rs_shim_try_init);
	rs_signals_install();
	rs_snaptrig_init();
	atomic_store(&state, ST_READY);
	return;
off:
	atomic_store(&state, ST_OFF);
}

int rs_shim_try_init(void)
{
	int expect = ST_UNINIT;
	int g, e;

	/* before libc's own init (environ unset) options cannot be read yet */
	if (!environ || rs_self.guard || rs_self.bootstrapping)
		return 0;
	if (!atomic_compare_exchange_strong(&state, &expect, ST_INITING))
		return atomic_load_explicit(&rs_tracing, memory_order_relaxed);
	e = errno;	/* the hook that got us here has not called the real function yet */
	g = rs_self.guard;
	rs_self.guard = 1;	/* our own allocations (libunwind, dl*) only forward */
	rs_bootstrap();
	init_locked();
	rs_self.guard = g;
	errno = e;
	return atomic_load(&rs_tracing);
}

struct rs_tbuf *rs_shim_tbuf(void)
{
	struct rs_thread *s = &rs_self;
	struct rs_tbuf *tb;

	if (rs_likely(s->tb != NULL))
		return s->tb;
	tb = rs_tbuf_acquire(my_tid());
	if (!tb)
		return NULL;
	s->tb = tb;
	if (have_key)
		pthread_setspecific(thread_key, tb);
	return tb;
}

uint32_t rs_shim_stack_loader(struct rs_tbuf *tb, uintptr_t caller)
{
	uintptr_t ip;
	int is_new;

	/*
	 * The loader calls malloc and free with its own locks held
	 * (dlclose frees under the lock dl_iterate_phdr takes). An
	 * unwind here would take libunwind's lock after the loader's,
	 * while other threads' unwinds take them the other way round
	 * (libunwind looks addresses up with dl_iterate_phdr): a
	 * deadlock. Keep the one frame known without unwinding, and no
	 * module rescan while the loader is mid-change.
	 */
	ip = caller - 1;
	return rs_stacks_intern(tb, &ip, 1, &is_new);
}

uint32_t rs_shim_stack_intern(struct rs_tbuf *tb, const uintptr_t *ips, unsigned n)
{
	int is_new;
	uint32_t id;

	if (!n)
		return 0;
	id = rs_stacks_intern(tb, ips, n, &is_new);
	if (is_new) {
		rs_modules_maybe_rescan();	/* e.g. NSS loaded behind our dlopen hook */
		/* GOTs of modules a tail-called dlopen brought in (cheap when
		 * nothing was loaded; never waits for another scanner) */
		rs_refapi_scan((const void *)&rs_shim_try_init);
	}
	return id;
}

static void thread_gone(void *v)
{
	struct rs_tbuf *tb = v;
	struct rs_thread *s = &rs_self;
	int g = s->guard, e = errno;

	s->guard = 1;
	if (atomic_load(&rs_tracing))
		rs_ev_thread_exit(tb, 0, rs_writer_time(tb));
	/* later destructors and libc's thread cleanup still free: keep the buffer */
	rs_tbuf_retire(tb);
	s->guard = g;
	errno = e;
}

/* ---- ending the trace --------------------------------------------------- */

static int ours(void)
{
	/* a vfork child shares our memory: it must not touch the parent's trace */
	return atomic_load(&rs_tracing) && getpid() == trace_pid;
}

/* REFSCOPE_UNWIND_CHECK: one line on stderr at the end (a debugging aid),
 * through check_fd. */
static void report_unwind_check(void)
{
	struct rs_unwind_counts c;
	char line[160];
	size_t n = 0;
	ssize_t w;

	if (!rs_unwind_checking)
		return;
	rs_unwind_counts(&c);
	memcpy(line, "refscope: unwind check: fast ", 29);
	n = 29;
	n += put_dec(line + n, (unsigned long)c.fast);
	memcpy(line + n, " libunwind ", 11);
	n += 11;
	n += put_dec(line + n, (unsigned long)c.slow);
	memcpy(line + n, " mismatches ", 12);
	n += 12;
	n += put_dec(line + n, (unsigned long)c.mismatch);
	line[n++] = '\n';
	w = write(check_fd, line, n);	/* best effort */
	(void)w;
}

static void end_trace(unsigned how, int64_t status)
{
	int g, e = errno;

	if (!ours() || atomic_exchange(&ending, 1))
		return;
	g = rs_self.guard;
	rs_self.guard = 1;
	rs_writer_flush_all(rs_self.tb);
	rs_snaptrig_exit(how);
	rs_writer_end(how, status);
	rs_writer_finish();
	report_unwind_check();
	rs_self.guard = g;
	errno = e;
}

void rs_shim_fatal(int sig)
{
	int g;

	if (!ours() || atomic_exchange(&ending, 1))
		return;
	g = rs_self.guard;
	rs_self.guard = 1;
	atomic_store(&rs_tracing, 0);	/* other threads stop appending */
	rs_writer_flush_all_signal(rs_self.tb);
	rs_writer_end(RS_END_SIGNAL, sig);
	rs_writer_finish();
	rs_self.guard = g;
}

__attribute__((constructor)) static void rs_ctor(void)
{
	int e = errno;

	rs_bootstrap();
	rs_shim_try_init();
	errno = e;
}

/* Runs after the program's own destructors and atexit handlers. */
__attribute__((destructor)) static void rs_dtor(void)
{
	end_trace(RS_END_EXIT, exit_status);
}

static rs_main_fn real_main;

/*
 * Gets the status of every exit() after main started: the program's, and
 * libc's own (error(), return from main), so END carries it. Registered
 * here, after libc registered the loader's destructor pass, so it runs
 * before our destructor writes END.
 */
static void exit_status_cb(int status, void *arg)
{
	(void)arg;
	if (getpid() == trace_pid)	/* a vfork child shares this variable */
		exit_status = status;
}

static int main_wrapper(int argc, char **argv, char **envp)
{
	int r, g = rs_self.guard, e = errno;

	on_exit(exit_status_cb, NULL);
	rs_self.guard = 1;	/* the environment strings are ours, not traced */
	rs_py_prepare();
	rs_self.guard = g;
	errno = e;
	r = real_main(argc, argv, envp);
	exit_status = r;
	return r;
}

RS_EXPORT int __libc_start_main(rs_main_fn main_fn, int argc, char **argv,
				void (*init)(void), void (*fini)(void),
				void (*rtld_fini)(void), void *stack_end);
RS_EXPORT int __libc_start_main(rs_main_fn main_fn, int argc, char **argv,
				void (*init)(void), void (*fini)(void),
				void (*rtld_fini)(void), void *stack_end)
{
	rs_bootstrap();
	real_main = main_fn;
	if (!rs_real.libc_start_main)
		rs_real.exit(127);	/* cannot happen with glibc; never call NULL */
	return rs_real.libc_start_main(main_wrapper, argc, argv, init, fini, rtld_fini,
				       stack_end);
}

RS_EXPORT void exit(int status)
{
	rs_bootstrap();
	if (getpid() == trace_pid)	/* a vfork child shares this variable */
		exit_status = status;
	rs_real.exit(status);
}

RS_EXPORT void _exit(int status)
{
	rs_bootstrap();
	end_trace(RS_END_EXIT_CALL, status);
	rs_real._exit(status);
}

RS_EXPORT void _Exit(int status)
{
	rs_bootstrap();
	end_trace(RS_END_EXIT_CALL, status);
	rs_real._Exit(status);
}

RS_EXPORT void abort(void)
{
	rs_bootstrap();
	end_trace(RS_END_ABORT, SIGABRT);
	rs_real.abort();
}

/* ---- threads ------------------------------------------------------------ */

struct start_node {
	struct start_node *next;
	void *(*fn)(void *);
	void *arg;
	uint32_t creator;
};

static struct start_node *free_nodes;
static atomic_int node_lock;

static void node_lock_take(void)
{
	while (atomic_exchange_explicit(&node_lock, 1, memory_order_acquire))
		__builtin_ia32_pause();
}

static struct start_node *node_get(void)
{
	struct start_node *n;

	node_lock_take();
	if (!free_nodes) {
		size_t sz = 64 << 10;
		struct start_node *m = mmap(NULL, sz, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m != MAP_FAILED) {
			rs_own_add(m, sz);
			for (size_t i = 0; i < sz / sizeof(*m); i++) {
				m[i].next = free_nodes;
				free_nodes = &m[i];
			}
		}
	}
	n = free_nodes;
	if (n)
		free_nodes = n->next;
	atomic_store_explicit(&node_lock, 0, memory_order_release);
	return n;
}

static void node_put(struct start_node *n)
{
	node_lock_take();
	n->next = free_nodes;
	free_nodes = n;
	atomic_store_explicit(&node_lock, 0, memory_order_release);
}

static void *thread_trampoline(void *v)
{
	struct start_node *n = v;
	void *(*fn)(void *) = n->fn;
	void *arg = n->arg;
	uint32_t creator = n->creator;

	node_put(n);
	if (atomic_load(&rs_tracing) && !rs_self.guard) {
		struct rs_tbuf *tb;
		int e = errno;

		rs_self.guard = 1;
		rs_unwind_thread_start();	/* its allocations are forwarded (guard) */
		tb = rs_shim_tbuf();
		if (tb)
			rs_ev_thread_start(tb, 0, rs_writer_time(tb), creator);
		rs_self.guard = 0;
		errno = e;	/* the thread starts with the errno libc gave it */
	}
	return fn(arg);
}

/*
 * prctl(PR_SET_TSC, PR_TSC_SIGSEGV) makes the TSC fault for the calling
 * thread and the threads it creates after: the shim stops reading it
 * (rs_writer_time) before the call, everywhere, so no event of the
 * program can die of it. Everything else passes through; like glibc's
 * prctl, it takes the four arguments whatever the option.
 */
RS_EXPORT int prctl(int option, ...)
{
	unsigned long a[4];
	va_list ap;

	va_start(ap, option);
	for (int i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	rs_bootstrap();
	if (option == PR_SET_TSC)
		rs_writer_tsc_off();
	return rs_real.prctl(option, a[0], a[1], a[2], a[3]);
}

RS_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr,
			     void *(*fn)(void *), void *arg)
{
	struct start_node *n;
	int r, e;

	rs_bootstrap();
	if (!atomic_load(&rs_tracing) || rs_self.guard)
		return rs_real.pthread_create(t, attr, fn, arg);
	e = errno;
	n = node_get();
	errno = e;
	if (!n)
		return rs_real.pthread_create(t, attr, fn, arg);
	n->fn = fn;
	n->arg = arg;
	n->creator = my_tid();
	r = rs_real.pthread_create(t, attr, thread_trampoline, n);
	if (r)
		node_put(n);
	return r;
}

/* ---- fork --------------------------------------------------------------- */

static void fork_prepare(void)
{
	rs_modules_lock();	/* the child must not inherit it held mid-scan */
	rs_unwind_fork_prepare();	/* nor libunwind's locks held mid-unwind */
}

static void fork_parent(void)
{
	rs_unwind_fork_parent();
	rs_modules_unlock();
}

static void fork_child(void)
{
	struct rs_thread *s = &rs_self;
	int g = s->guard, e = errno;

	s->tid = 0;
	s->tid = my_tid();
	rs_unwind_fork_child();
	atomic_store(&node_lock, 0);	/* another thread may have held it at fork */
	rs_own_after_fork();		/* likewise (stacks reset below takes it) */
	if (atomic_load(&state) != ST_READY) {
		rs_modules_unlock();
		return;
	}
	s->guard = 1;
	rs_writer_drop_fd();	/* the parent's file: never written from here */
	rs_writer_reset_after_fork(s->tb, s->tid);
	rs_modules_reset();
	atomic_store(&ending, 0);
	if (rs_stacks_reset() == 0) {
		int err = open_trace(RS_ORIGIN_FORK);

		if (err == 0) {
			rs_modules_scan();
			rs_refapi_announce_all();	/* before the child's first event */
			main_thread_start();
			rs_snaptrig_fork_child();
		} else {
			complain("cannot create a trace file in ", err);
		}
	}
	s->guard = g;
	errno = e;
}

/* ---- dlopen ------------------------------------------------------------- */

static void rescan(void)
{
	int e = errno;

	if (!atomic_load(&rs_tracing) || rs_self.guard)
		return;
	rs_self.guard = 1;
	rs_modules_scan();
	rs_refapi_scan((const void *)&rs_shim_try_init);	/* GOTs of the new modules */
	rs_self.guard = 0;
	errno = e;
}

/*
 * glibc's dlopen searches a bare name with the RUNPATH of its caller (its
 * return address). Calling it from here would make the shim the caller and
 * break programs that dlopen plugins through their own RUNPATH. So a bare
 * name goes to the real dlopen as a tail call (the program stays the caller)
 * and the new objects are picked up by the loader-counter check done when
 * the next new stack is interned; a name with a '/' does not depend on the
 * caller, and is rescanned right after the call.
 */
RS_EXPORT void *dlopen(const char *file, int mode)
{
	void *h;

	rs_bootstrap();
	if (!file || !strchr(file, '/'))
		return rs_real.dlopen(file, mode);	/* tail call: see above */
	h = rs_real.dlopen(file, mode);
	if (h)
		rescan();
	return h;
}

RS_EXPORT void *dlmopen(Lmid_t lm, const char *file, int mode)
{
	void *h;

	rs_bootstrap();
	if (!file || !strchr(file, '/'))
		return rs_real.dlmopen(lm, file, mode);	/* tail call, as for dlopen */
	h = rs_real.dlmopen(lm, file, mode);
	if (h)
		rescan();
	return h;
}

RS_EXPORT int dlclose(void *h)
{
	int r;

	rs_bootstrap();
	r = rs_real.dlclose(h);
	rs_unwind_forget();	/* another object may come to the same addresses */
	rescan();
	return r;
}

/*
 * dlsym: a traced retain/release name gets the trampoline standing for what
 * the real dlsym found, so calls through the pointer are recorded too. Any
 * other lookup is a tail call: glibc resolves RTLD_NEXT and RTLD_DEFAULT
 * relative to its caller's module (the return address), which must stay the
 * program's, never the shim's. Modules a tail-called dlopen brought in (a
 * bare name) get their GOTs patched here, as plugin loaders look up an
 * entry point right after loading.
 */
static __attribute__((noinline)) void *traced_dlsym(void *handle, const char *name, void *caller)
{
	void *p;
	int e;

	rs_self.guard = 1;
	p = rs_real.dlsym(handle, name);
	e = errno;
	if (!p && handle == RTLD_DEFAULT) {
		/* the caller's own scope, which RTLD_DEFAULT searches after the
		 * global one (a module dlopen'ed RTLD_LOCAL and its dependencies) */
		Dl_info di;
		void *lm = NULL;

		if (dladdr1(caller, &di, &lm, RTLD_DL_LINKMAP) && lm)
			p = rs_real.dlsym(lm, name);
	}
	rs_refapi_scan((const void *)&rs_shim_try_init);
	p = rs_refapi_redirect(name, p);
	errno = e;
	rs_self.guard = 0;
	return p;
}

static __attribute__((noinline)) void dlsym_rescan(void)
{
	int e = errno;

	rs_self.guard = 1;
	rs_refapi_scan((const void *)&rs_shim_try_init);
	rs_self.guard = 0;
	errno = e;
}

RS_EXPORT void *dlsym(void *handle, const char *name)
{
	rs_bootstrap();
	if (!rs_self.guard && atomic_load_explicit(&rs_tracing, memory_order_relaxed)) {
		if (handle != RTLD_NEXT && rs_refapi_wants(name))
			return traced_dlsym(handle, name, __builtin_return_address(0));
		dlsym_rescan();
	}
	return rs_real.dlsym(handle, name);	/* tail call: see above */
}

/* ---- exec --------------------------------------------------------------- */

static void before_exec(void)
{
	int g, e = errno;

	if (!ours())
		return;
	g = rs_self.guard;
	rs_self.guard = 1;
	rs_writer_flush_all(rs_self.tb);
	rs_writer_end(RS_END_EXEC, -1);	/* superseded by a later END if exec fails */
	rs_self.guard = g;
	errno = e;
}

RS_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	rs_bootstrap();
	before_exec();
	return rs_real.execve(path, argv, envp);
}

RS_EXPORT int execv(const char *path, char *const argv[])
{
	rs_bootstrap();
	before_exec();
	return rs_real.execv(path, argv);
}

RS_EXPORT int execvp(const char *file, char *const argv[])
{
	rs_bootstrap();
	before_exec();
	return rs_real.execvp(file, argv);
}

RS_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	rs_bootstrap();
	before_exec();
	return rs_real.execvpe(file, argv, envp);
}

RS_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	rs_bootstrap();
	before_exec();
	return rs_real.fexecve(fd, argv, envp);
}

/* Counts the arguments after arg0 up to the NULL. */
#define COUNT_ARGS(ap, arg0, n)                                   \
	do {                                                      \
		va_list c_;                                       \
		va_copy(c_, ap);                                  \
		n = 1;                                            \
		if (arg0)                                         \
			while (va_arg(c_, const char *))          \
				n++;                              \
		va_end(c_);                                       \
	} while (0)

/* glibc declares arg nonnull, yet execl(path, NULL) is legal: launder it */
static const char *opaque(const char *a)
{
	__asm__("" : "+r"(a));
	return a;
}

RS_EXPORT int execl(const char *path, const char *arg0, ...)
{
	const char *arg = opaque(arg0);
	va_list ap;
	size_t n;
	char **argv;

	va_start(ap, arg0);
	COUNT_ARGS(ap, arg, n);
	argv = __builtin_alloca((n + 1) * sizeof(*argv));	/* no malloc before exec */
	argv[0] = (char *)arg;
	for (size_t i = 1; i < n; i++)
		argv[i] = va_arg(ap, char *);
	argv[arg ? n : 0] = NULL;
	va_end(ap);
	rs_bootstrap();
	before_exec();
	return rs_real.execve(path, argv, environ);
}

RS_EXPORT int execlp(const char *file, const char *arg0, ...)
{
	const char *arg = opaque(arg0);
	va_list ap;
	size_t n;
	char **argv;

	va_start(ap, arg0);
	COUNT_ARGS(ap, arg, n);
	argv = __builtin_alloca((n + 1) * sizeof(*argv));
	argv[0] = (char *)arg;
	for (size_t i = 1; i < n; i++)
		argv[i] = va_arg(ap, char *);
	argv[arg ? n : 0] = NULL;
	va_end(ap);
	rs_bootstrap();
	before_exec();
	return rs_real.execvp(file, argv);
}

RS_EXPORT int execle(const char *path, const char *arg0, ...)
{
	const char *arg = opaque(arg0);
	va_list ap;
	size_t n;
	char **argv;
	char **envp;

	va_start(ap, arg0);
	COUNT_ARGS(ap, arg, n);
	argv = __builtin_alloca((n + 1) * sizeof(*argv));
	argv[0] = (char *)arg;
	for (size_t i = 1; i < n; i++)
		argv[i] = va_arg(ap, char *);
	argv[arg ? n : 0] = NULL;
	if (arg)
		(void)va_arg(ap, char *);	/* the NULL ending the arguments */
	envp = va_arg(ap, char **);
	va_end(ap);
	rs_bootstrap();
	before_exec();
	return rs_real.execve(path, argv, envp);
}
