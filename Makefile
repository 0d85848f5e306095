# refscope - build, test, demo, bench.
#
#   make            build/librefscope.so and build/refscope
#   make deps       install the Debian packages the build and tests need
#   make test       build and run the whole test suite (Criterion)
#   make demo       deps + build + trace a sample + print its report
#   make bench      slowdown and trace size against heaptrack (see bench/)
#   make fuzz       libFuzzer on the trace reader and every report for
#                   FUZZ_SECONDS (default 300) from tests/fuzz/corpus; crashes
#                   land in build/fuzz/ (see README, "Fuzzing")
#   make fuzz-merge minimize build/fuzz/corpus into tests/fuzz/corpus
#   make install PREFIX=/usr/local
#
#   WERROR=0                   do not turn warnings into errors
#   SANITIZE=address,undefined build the analyzer and tests with sanitizers
#                              (never the preloaded library, nor the samples
#                              it is preloaded into)

CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib/refscope
B := build
VERSION := 0.1.0

WERROR ?= 1
SANITIZE ?=
CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Wundef
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif
BASE_CPPFLAGS := -Iinclude -D_GNU_SOURCE -DREFSCOPE_VERSION='"$(VERSION)"'
ALL_CFLAGS := -std=gnu11 $(WARNINGS) $(CFLAGS) $(BASE_CPPFLAGS) $(CPPFLAGS)

ifneq ($(SANITIZE),)
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

# The shim: every shim/*.c goes into the library. The hook files define
# malloc & co. and are never linked into a test; the rest is the engine, which
# the unit tests link directly.
SHIM_SRCS := $(wildcard shim/*.c)
SHIM_HOOK_SRCS := $(filter shim/intercept.c shim/bootstrap.c shim/shim.c shim/signals.c \
	shim/snaptrigger.c shim/pysnap.c shim/fds.c,$(SHIM_SRCS))
SHIM_ENGINE_SRCS := $(filter-out $(SHIM_HOOK_SRCS),$(SHIM_SRCS))
SHIM_CFLAGS := -fPIC -fvisibility=hidden -ftls-model=initial-exec
SHIM_LIBS := -lunwind -lzstd -ldl -lpthread
SHIM_OBJS := $(SHIM_SRCS:%.c=$(B)/obj/%.o)

ANALYZER_SRCS := $(wildcard analyzer/*.c)
ANALYZER_LIB_SRCS := $(filter-out analyzer/main.c,$(ANALYZER_SRCS))
ANALYZER_LIBS := -ldw -lelf -lzstd -lm -ljansson
ANALYZER_OBJS := $(ANALYZER_SRCS:%.c=$(B)/obj/%.o)
ANALYZER_LIB_OBJS := $(ANALYZER_LIB_SRCS:%.c=$(B)/obj/%.o)

# Tests link the analyzer (without main.c) and the shim engine, built again
# as ordinary (possibly sanitized) objects.
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_HELPER_SRCS := $(filter-out $(TEST_SRCS),$(wildcard tests/*.c))
TEST_OBJS := $(TEST_SRCS:%.c=$(B)/obj/%.o) $(TEST_HELPER_SRCS:%.c=$(B)/obj/%.o)
TEST_SHIM_OBJS := $(SHIM_ENGINE_SRCS:%.c=$(B)/testobj/%.o)
TEST_BIN := $(B)/refscope-tests

# Samples: samples/NAME.c -> build/samples/NAME. Built for clear stacks.
SAMPLE_SRCS := $(wildcard samples/*.c)
SAMPLE_BINS := $(SAMPLE_SRCS:samples/%.c=$(B)/samples/%)
SAMPLE_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -fno-inline-functions-called-once \
	$(WARNINGS) -Wno-missing-prototypes $(BASE_CPPFLAGS) -pthread
# Shared-library samples: samples/lib/NAME.c -> build/samples/libNAME.so.
# Per-sample flags: SAMPLE_CFLAGS_<name>, SAMPLE_LDFLAGS_<name>.
SAMPLE_LIB_SRCS := $(wildcard samples/lib/*.c)
SAMPLE_LIBS := $(SAMPLE_LIB_SRCS:samples/lib/%.c=$(B)/samples/lib%.so)
SAMPLE_REFOBJ := -L$(B)/samples -lrefobj -Wl,-rpath,'$$ORIGIN'
SAMPLE_LDFLAGS_refobj_leaks := $(SAMPLE_REFOBJ)
SAMPLE_LDFLAGS_refobj_threads := $(SAMPLE_REFOBJ)
SAMPLE_LDFLAGS_refobj_linked_plugin := $(SAMPLE_REFOBJ)
SAMPLE_LDFLAGS_refobj_plugin := -Wl,-rpath,'$$ORIGIN'
SAMPLE_CFLAGS_gobject_cycle := $(shell pkg-config --cflags gobject-2.0 2>/dev/null)
SAMPLE_LDFLAGS_gobject_cycle := $(shell pkg-config --libs gobject-2.0 2>/dev/null)
SAMPLE_CFLAGS_gobject_dlopen := $(SAMPLE_CFLAGS_gobject_cycle)
SAMPLE_CFLAGS_gobject_threads := $(SAMPLE_CFLAGS_gobject_cycle)
SAMPLE_LDFLAGS_gobject_threads := $(SAMPLE_LDFLAGS_gobject_cycle)
# a program the shim cannot be preloaded into (libc.a: libc6-dev)
SAMPLE_LDFLAGS_fault_static := -static
# C++ samples: samples/NAME.cc -> build/samples/NAME (g++, in DEPS)
CXX ?= g++
SAMPLE_CXX_SRCS := $(wildcard samples/*.cc)
SAMPLE_CXX_BINS := $(SAMPLE_CXX_SRCS:samples/%.cc=$(B)/samples/%)
SAMPLE_CXXFLAGS := -std=gnu++17 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Wshadow -Wformat=2 \
	-Wundef $(filter -Werror,$(WARNINGS)) $(BASE_CPPFLAGS) -pthread

BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

DEPS := build-essential pkg-config libunwind-dev uthash-dev libcriterion-dev \
	libdw-dev libelf-dev libzstd-dev libjansson-dev valgrind python3 git sqlite3 coreutils file \
	xz-utils libglib2.0-dev chromium libxml2-utils gawk bc perl python3-gi gir1.2-glib-2.0 g++ \
	clang libclang-rt-14-dev
BENCH_DEPS := heaptrack hyperfine

.PHONY: all deps test demo bench install clean samples check-deps fuzz fuzz-merge fuzz-smoke
all: $(B)/librefscope.so $(B)/refscope $(B)/python/sitecustomize.py

# CPython targets: the startup module librefscope.so puts on PYTHONPATH,
# found in python/ next to the library (docs/PYTHON.md)
$(B)/python/sitecustomize.py: shim/python/sitecustomize.py
	@mkdir -p $(dir $@)
	cp $< $@

# -MMD -MP: every object gets a .d file listing the headers it included, so
# changing any header rebuilds exactly what uses it.
DEPFLAGS = -MMD -MP

$(B)/obj/shim/%.o: shim/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(SHIM_CFLAGS) -c $< -o $@

$(B)/testobj/shim/%.o: shim/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(SAN_FLAGS) -fPIC -DRS_TESTING -c $< -o $@

$(B)/obj/analyzer/%.o: analyzer/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(SAN_FLAGS) -DRS_LIBDIR='"$(LIBDIR)"' -c $< -o $@

$(B)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(SAN_FLAGS) -Ianalyzer -Ishim -Wno-missing-prototypes \
		-DRS_BUILD_DIR='"$(abspath $(B))"' -DRS_SOURCE_DIR='"$(abspath .)"' -c $< -o $@

# Objects are rebuilt when the flags they were built with change (SANITIZE=,
# WERROR=, CFLAGS=, CC=): build/flags.txt holds the last ones, rewritten
# while the Makefile is read. run.c has LIBDIR compiled in (where the
# installed refscope finds its library): build/libdir.txt, for make install
# PREFIX=...
BUILD_FLAGS := $(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $(SAMPLE_CFLAGS)
ifneq ($(BUILD_FLAGS),$(file <$(B)/flags.txt))
$(shell mkdir -p $(B))
$(file >$(B)/flags.txt,$(BUILD_FLAGS))
endif
ifneq ($(LIBDIR),$(file <$(B)/libdir.txt))
$(shell mkdir -p $(B))
$(file >$(B)/libdir.txt,$(LIBDIR))
endif
$(SHIM_OBJS) $(ANALYZER_OBJS) $(TEST_OBJS) $(TEST_SHIM_OBJS) $(SAMPLE_BINS) $(SAMPLE_CXX_BINS) $(SAMPLE_LIBS): $(B)/flags.txt
$(B)/obj/analyzer/run.o: $(B)/libdir.txt

-include $(wildcard $(B)/obj/*/*.d $(B)/testobj/*/*.d $(B)/samples/*.d $(B)/fuzzobj/*/*.d)

$(B)/librefscope.so: $(SHIM_OBJS)
	$(CC) -shared -Wl,-z,now -Wl,--no-undefined $(CFLAGS) -o $@ $^ $(SHIM_LIBS)

$(B)/refscope: $(ANALYZER_OBJS)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(ANALYZER_LIBS)

$(TEST_BIN): $(TEST_OBJS) $(ANALYZER_LIB_OBJS) $(TEST_SHIM_OBJS)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ -lcriterion -ljansson $(ANALYZER_LIBS) $(SHIM_LIBS)

# Samples are never sanitized: they are the programs the shim is preloaded
# into, and ASan refuses to start unless its runtime is the first library
# (LD_PRELOAD puts the shim first); its leak check would also change the
# exit status the tests compare.
$(B)/samples/%: samples/%.c
	@mkdir -p $(dir $@)
	$(CC) $(SAMPLE_CFLAGS) $(DEPFLAGS) $(SAMPLE_CFLAGS_$*) -o $@ $< -ldl $(SAMPLE_LDFLAGS_$*)

$(B)/samples/%: samples/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(SAMPLE_CXXFLAGS) $(DEPFLAGS) -o $@ $<

$(B)/samples/lib%.so: samples/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(SAMPLE_CFLAGS) $(DEPFLAGS) $(SAMPLE_CFLAGS_$*) -fPIC -shared -o $@ $< -ldl $(SAMPLE_LDFLAGS_$*)

$(B)/samples/refobj_leaks $(B)/samples/refobj_plugin $(B)/samples/refobj_threads \
	$(B)/samples/librefobj_linked_plugin.so \
	$(B)/samples/librefobj_plugin.so: $(B)/samples/librefobj.so

$(B)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -fno-omit-frame-pointer $(WARNINGS) -Wno-missing-prototypes -pthread -o $@ $<

samples: $(SAMPLE_LIBS) $(SAMPLE_BINS) $(SAMPLE_CXX_BINS)

deps:
	@missing=$$(for p in $(DEPS) $(EXTRA_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		echo "make deps: installing" $$missing; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y $$missing; \
	else echo "make deps: all packages present"; fi

# Under SANITIZE, LeakSanitizer ignores what Criterion itself leaks (its
# runner keeps some reports of failed tests until exit).
ifneq ($(SANITIZE),)
TEST_ENV := LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0
endif

# Hostile input, always part of `make test`: the analyzer built with clang,
# ASan and UBSan (build/san/refscope, objects in build/fuzzobj/ instrumented
# for libFuzzer too), the libFuzzer target build/fuzz/fuzz_trace, and a short
# fuzz run. The tests in tests/test_hostile.c replay the fixtures, the corpus
# and every crash kept through both. clang and libclang-rt-14-dev (libFuzzer's
# runtime) come from `make deps`.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 300
FUZZ_TEST_SECONDS ?= 20
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=gnu11 $(WARNINGS) -O1 -g $(BASE_CPPFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_OBJS := $(ANALYZER_SRCS:%.c=$(B)/fuzzobj/%.o)
FUZZ_BIN := $(B)/fuzz/fuzz_trace
# -timeout: an input taking 10 s is a hang; -rss_limit_mb: memory must stay
# bounded whatever the lengths in the file say
FUZZ_FLAGS := -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix=$(B)/fuzz/

$(B)/fuzzobj/analyzer/%.o: analyzer/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -DRS_LIBDIR='"$(LIBDIR)"' -c $< -o $@

$(B)/san/refscope: $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ $(ANALYZER_LIBS)

$(FUZZ_BIN): tests/fuzz/fuzz_trace.c $(filter-out $(B)/fuzzobj/analyzer/main.o,$(FUZZ_OBJS))
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Ianalyzer -fsanitize=fuzzer -o $@ $^ $(ANALYZER_LIBS)

# New inputs go to build/fuzz/corpus, never into the repository's corpus.
fuzz: $(FUZZ_BIN)
	@mkdir -p $(B)/fuzz/corpus
	nice $(FUZZ_BIN) $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) $(B)/fuzz/corpus tests/fuzz/corpus

fuzz-merge: $(FUZZ_BIN)
	@rm -rf $(B)/fuzz/merged && mkdir -p $(B)/fuzz/merged $(B)/fuzz/corpus
	$(FUZZ_BIN) -merge=1 -use_counters=0 -timeout=10 $(B)/fuzz/merged tests/fuzz/corpus $(B)/fuzz/corpus
	rm -f tests/fuzz/corpus/* && cp $(B)/fuzz/merged/* tests/fuzz/corpus/

# The short run of `make test`: its summary shown, the whole log on failure.
fuzz-smoke: $(FUZZ_BIN)
	@rm -rf $(B)/fuzz/smoke && mkdir -p $(B)/fuzz/smoke
	@echo "fuzz: $(FUZZ_BIN) for $(FUZZ_TEST_SECONDS) s on tests/fuzz/corpus"
	@nice $(FUZZ_BIN) $(FUZZ_FLAGS) -max_total_time=$(FUZZ_TEST_SECONDS) $(B)/fuzz/smoke \
		tests/fuzz/corpus >$(B)/fuzz/smoke.log 2>&1; rc=$$?; \
	if [ $$rc -ne 0 ]; then tail -n 80 $(B)/fuzz/smoke.log; echo "fuzz: FAILED (exit $$rc), log in $(B)/fuzz/smoke.log"; exit 1; fi; \
	grep -E '^INFO: Seed|INITED|^Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb' $(B)/fuzz/smoke.log

# The fuzz run first, then the suite, whose summary line always ends the
# output; either failing fails `make test`.
test: all samples $(B)/bench/workload $(TEST_BIN) $(B)/san/refscope $(FUZZ_BIN)
	@rc=0; $(MAKE) --no-print-directory fuzz-smoke || rc=1; \
	$(TEST_ENV) $(TEST_BIN) --jobs 2 || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see the fuzz run or the suite above)"; fi; \
	exit $$rc

# deps first, then the build: never in parallel with the package install
demo: deps
	@$(MAKE) --no-print-directory all samples
	@rm -rf $(B)/demo && mkdir -p $(B)/demo
	$(B)/refscope run -o $(B)/demo -- $(B)/samples/leak7
	$(B)/refscope report $(B)/demo/refscope.leak7.*.trace

bench: all
	@$(MAKE) --no-print-directory deps EXTRA_DEPS="$(BENCH_DEPS)"
	@$(MAKE) --no-print-directory $(BENCH_BINS)
	bench/run.sh $(B)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)
	install -m 0755 $(B)/refscope $(DESTDIR)$(BINDIR)/refscope
	install -m 0644 $(B)/librefscope.so $(DESTDIR)$(LIBDIR)/librefscope.so
	install -d $(DESTDIR)$(LIBDIR)/python
	install -m 0644 $(B)/python/sitecustomize.py $(DESTDIR)$(LIBDIR)/python/sitecustomize.py

clean:
	rm -rf $(B)
