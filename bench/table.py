#!/usr/bin/env python3
"""table.py OUT THREADS... - prints the `make bench` table from what
bench/run.sh left in OUT: hyperfine's JSON (medians), the trace files, the
refscope report and heaptrack_print summary (event counts), and optionally
callgrind outputs (instructions per event)."""
import glob
import json
import os
import re
import sys


def refscope_events(report):
    m = re.search(r"^events:\s+(\d+)", open(report).read(), re.M)
    return int(m.group(1)) if m else 0


def heaptrack_events(printed):
    m = re.search(r"calls to allocation functions:\s+(\d+)", open(printed).read())
    return 2 * int(m.group(1)) if m else 0


def one(pattern):
    files = glob.glob(pattern)
    return files[0] if len(files) == 1 else None


def main():
    out, threads = sys.argv[1], sys.argv[2:]
    rows = []
    verdicts = []
    for t in threads:
        res = {r["command"]: r for r in json.load(open(f"{out}/t{t}.json"))["results"]}
        base = res[f"uninstrumented t={t}"]["median"]
        rows.append((f"uninstrumented t={t}", base, 1.0, None, None))
        got = {}
        for tool, trace, events in (
            ("refscope", one(f"{out}/refscope-t{t}/refscope.workload.*.trace"),
             refscope_events(f"{out}/refscope-t{t}.report")),
            ("heaptrack", one(f"{out}/heaptrack-t{t}/trace.*"),
             heaptrack_events(f"{out}/heaptrack-t{t}.print")),
        ):
            med = res[f"{tool} t={t}"]["median"]
            size = os.path.getsize(trace) if trace else 0
            got[tool] = (med / base, size / events if events else float("inf"))
            rows.append((f"{tool} t={t}", med, med / base, size, events))
        r, h = got["refscope"], got["heaptrack"]
        verdicts.append(f"t={t}: slowdown refscope {r[0]:.2f}x vs heaptrack {h[0]:.2f}x "
                        f"({'met' if r[0] < h[0] else 'NOT met'}); bytes/event "
                        f"{r[1]:.3f} vs {h[1]:.3f} ({'met' if r[1] <= h[1] else 'NOT met'})")
    print(f"{'config':<22} {'median s':>9} {'ratio':>7} {'trace bytes':>12} "
          f"{'events':>10} {'bytes/event':>11}")
    for name, med, ratio, size, events in rows:
        if size is None:
            print(f"{name:<22} {med:>9.3f} {ratio:>6.2f}x {'-':>12} {'-':>10} {'-':>11}")
        else:
            bpe = size / events if events else float("inf")
            print(f"{name:<22} {med:>9.3f} {ratio:>6.2f}x {size:>12} {events:>10} {bpe:>11.3f}")
    print("target (refscope slower than uninstrumented by less than heaptrack, "
          "bytes/event <= heaptrack's):")
    for v in verdicts:
        print("  " + v)

    cg = f"{out}/callgrind"
    if os.path.isdir(cg):
        def ir(path):
            for line in open(path):
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
            return 0

        base = ir(f"{cg}/base.out")
        # env and the workload each left an output; the workload's is the big one
        ref = max((ir(p) for p in glob.glob(f"{cg}/refscope.*.out")), default=0)
        ev = refscope_events(f"{cg}/refscope.report")
        if base and ref and ev:
            print(f"callgrind: uninstrumented {base} Ir, refscope {ref} Ir, {ev} events: "
                  f"{(ref - base) / ev:.0f} extra instructions per event")


if __name__ == "__main__":
    main()
