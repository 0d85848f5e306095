#!/bin/sh
# bench/run.sh - `make bench`: the allocation-heavy workload uninstrumented,
# under refscope and under heaptrack, with 1 and with 4 threads, in one run.
#
#   bench/run.sh [BUILD_DIR]        (make bench passes build)
#
#   BENCH_RUNS=N       hyperfine runs per configuration (default 5); medians
#   BENCH_PAIRS=N      malloc/free pairs per workload run (default 5000000)
#   BENCH_THREADS=".." thread counts (default "1 4")
#   BENCH_CALLGRIND=1  also count instructions per event under callgrind
#                      (a wall-clock-free check; uses BENCH_CG_PAIRS pairs,
#                      default 200000)
#
# refscope runs as `refscope run` would run it: LD_PRELOAD of
# librefscope.so with REFSCOPE_OUTPUT_DIR set and every other setting at its
# default (stacks for allocations and frees, 64 frames, zstd chunks); the
# summary `refscope run` prints afterwards (a full read of the trace) is not
# part of the program's run and is left out. heaptrack runs as
# `heaptrack -o FILE prog`, its interpreter and compressor included.
#
# Trace bytes are the size of the file the last timed run left. Events:
# refscope's from `refscope report` (every event record, free(NULL) and
# thread start/exit included); heaptrack's as allocations + frees, that is
# 2 x heaptrack_print's "calls to allocation functions" (the workload frees
# every block but stdio's buffer, so this is exact to a few events).
#
# Wall times on a shared machine are noisy: run it when the machine is quiet,
# and use BENCH_CALLGRIND=1 to confirm per-event cost in instructions.
set -eu

B=${1:-build}
RUNS=${BENCH_RUNS:-5}
PAIRS=${BENCH_PAIRS:-5000000}
THREADS=${BENCH_THREADS:-"1 4"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "$B" && pwd)
WL=$B/bench/workload
LIB=$B/librefscope.so
OUT=$B/bench/out

for tool in hyperfine heaptrack heaptrack_print python3; do
	command -v $tool >/dev/null 2>&1 || { echo "bench: $tool not found (make deps EXTRA_DEPS=...)" >&2; exit 1; }
done
[ -x "$WL" ] && [ -f "$LIB" ] && [ -x "$B/refscope" ] || { echo "bench: build first (make bench)" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT"
echo "bench: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg), $RUNS runs each, $PAIRS pairs"

for t in $THREADS; do
	rd=$OUT/refscope-t$t
	hd=$OUT/heaptrack-t$t
	mkdir -p "$rd" "$hd"
	args="-t $t -n $PAIRS"
	hyperfine --style basic --runs "$RUNS" --export-json "$OUT/t$t.json" \
		--prepare true \
		--prepare "rm -f $rd/*.trace" \
		--prepare "rm -f $hd/*" \
		-n "uninstrumented t=$t" "$WL $args" \
		-n "refscope t=$t" "env LD_PRELOAD=$LIB REFSCOPE_OUTPUT_DIR=$rd $WL $args" \
		-n "heaptrack t=$t" "heaptrack -o $hd/trace $WL $args" >"$OUT/t$t.log"
	set -- "$rd"/refscope.workload.*.trace
	[ $# -eq 1 ] && [ -f "$1" ] || { echo "bench: expected one refscope trace in $rd" >&2; exit 1; }
	"$B/refscope" report "$1" >"$OUT/refscope-t$t.report"
	set -- "$hd"/trace.*
	[ $# -eq 1 ] && [ -f "$1" ] || { echo "bench: expected one heaptrack file in $hd" >&2; exit 1; }
	heaptrack_print -f "$1" -s 0 -p 0 -a 0 -T 0 -l 0 -n 0 >"$OUT/heaptrack-t$t.print" 2>&1
done

if [ "${BENCH_CALLGRIND:-0}" = 1 ]; then
	command -v valgrind >/dev/null 2>&1 || { echo "bench: valgrind not found" >&2; exit 1; }
	cgp=${BENCH_CG_PAIRS:-200000}
	cd_=$OUT/callgrind
	mkdir -p "$cd_/trace"
	valgrind --tool=callgrind --callgrind-out-file="$cd_/base.out" "$WL" -n "$cgp" \
		>/dev/null 2>"$cd_/base.log"
	# through env, so only the workload gets LD_PRELOAD; one output per process
	valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$cd_/refscope.%p.out" \
		env LD_PRELOAD="$LIB" REFSCOPE_OUTPUT_DIR="$cd_/trace" "$WL" -n "$cgp" \
		>/dev/null 2>"$cd_/refscope.log"
	set -- "$cd_"/trace/refscope.workload.*.trace
	"$B/refscope" report "$1" >"$cd_/refscope.report"
fi

python3 "$ROOT/bench/table.py" "$OUT" $THREADS
