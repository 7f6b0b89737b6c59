#!/usr/bin/env python3
"""``rstlab.read_many`` over 8 captures: 2 workers against 1 (issue #15, acceptance 2: ≥ 1.6×).

1. Generates (deterministically, once) 8 captures with the benchmark's generator
   (``rust/rstlab-trace/examples/gen_capture.rs``), each with a different number of concurrent
   connections so that no two are the same file.
2. Times ``rstlab.read_many(files, workers=W)`` — the three tables stacked, as Arrow — in fresh
   interpreters, W = 1 and W = 2 alternated so a noisy neighbour weighs on both alike; and, to
   show why read_many uses threads, the same job on a pool of 2 processes, whose tables come
   back to the parent pickled. Then both again in one warm interpreter, calls alternated.
3. Times, alternated with those runs, what 2 cores give at that moment: one busy loop in one
   process against the same loop in 2 processes at once. Other work on the machine (a test
   suite next door) takes a core away from both alike: this says how much parallelism there
   was to have.
4. Prints each median, the ratio of 1 worker's median to 2 workers', the busy loop's ratio, and
   the machine's load.

Usage: python bench/many.py [--packets N (per capture, default 1000000)] [--runs K (default 7)]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import DATA, example  # noqa: E402  (the benchmark's generator, built by cargo)

CAPTURES = 8

# The imports (rstlab, and pyarrow, which rstlab imports on first use) are timed apart: paid once
# per interpreter, on one core, whatever the number of workers.
THREADS = r"""
import json, sys, time
t0 = time.perf_counter()
import rstlab, pyarrow
files, workers = sys.argv[2:], int(sys.argv[1])
t1 = time.perf_counter()
m = rstlab.read_many(files, workers=workers)
n = sum(len(t) for t in (m.connections, m.resets, m.zeek_conns))
print(json.dumps({"s": time.perf_counter() - t1, "import": t1 - t0, "rows": n}))
"""

# One interpreter, warm (a notebook's second call, a long-running job): 1 and 2 workers alternated.
WARM = r"""
import json, statistics, sys, time
import rstlab, pyarrow
files, runs = sys.argv[2:], int(sys.argv[1])
rstlab.read_many(files[:2], workers=2)
out = {1: [], 2: []}
for _ in range(runs):
    for w in (1, 2):
        t0 = time.perf_counter()
        rstlab.read_many(files, workers=w)
        out[w].append(time.perf_counter() - t0)
print(json.dumps({"one": statistics.median(out[1]), "two": statistics.median(out[2])}))
"""

PROCESSES = r"""
import json, sys, time
from concurrent.futures import ProcessPoolExecutor
import pyarrow as pa
import rstlab
from rstlab.many import read_one

def one(path):
    r = read_one(path)
    return [r.tables[t] for t in ("connections", "resets", "zeek_conns")]

if __name__ == "__main__":
    files, workers = sys.argv[2:], int(sys.argv[1])
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as ex:
        parts = list(ex.map(one, files))
    n = sum(pa.concat_tables([p[i] for p in parts]).num_rows for i in range(3))
    print(json.dumps({"s": time.perf_counter() - t0, "rows": n}))
"""


SPIN = "n = 0\nfor i in range(15_000_000):\n    n += i\n"


def spin(procs: int) -> float:
    """Seconds for ``procs`` processes to each run the same pure-CPU loop at once."""
    t0 = time.perf_counter()
    ps = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(procs)]
    for p in ps:
        p.wait()
    return time.perf_counter() - t0


def generate(packets: int) -> list[Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    files = [DATA / f"many-{packets}-{i}.pcap" for i in range(CAPTURES)]
    if not all(f.exists() for f in files):
        gen = example("gen_capture")
        for i, f in enumerate(files):
            subprocess.run([str(gen), str(f), str(packets), str(1000 + 100 * i)], check=True,
                           stdout=subprocess.DEVNULL)
    return files


def timed(code: str, workers: int, files: list[Path]) -> dict[str, float]:
    if code is PROCESSES:
        # A script file: the pool's children import __main__ to find `one`.
        script = DATA / "many_processes.py"
        script.write_text(code)
        argv = [sys.executable, str(script)]
    else:
        argv = [sys.executable, "-c", code]
    r = subprocess.run([*argv, str(workers), *map(str, files)], capture_output=True, text=True, check=True)
    out: dict[str, float] = json.loads(r.stdout)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_000_000, help="packets per capture")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    files = generate(args.packets)
    for f in files:  # into the page cache: every timed run reads memory, not the disk
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass
    print(f"{CAPTURES} captures × {args.packets:,} packets ({sum(f.stat().st_size for f in files) / 1e6:.0f} MB), "
          f"{os.cpu_count()} cores, load before: {os.getloadavg()[0]:.2f}")
    one, two, procs, rows, spin1, spin2, imports = [], [], [], set(), [], [], []
    for _ in range(args.runs):
        for w, acc in ((1, one), (2, two)):
            r = timed(THREADS, w, files)
            acc.append(r["s"])
            imports.append(r["import"])
            rows.add(r["rows"])
        r = timed(PROCESSES, 2, files)
        procs.append(r["s"])
        rows.add(r["rows"])
        spin1.append(spin(1))
        spin2.append(spin(2))
    assert len(rows) == 1, f"the runs disagree on the row count: {rows}"
    warm = timed(WARM, args.runs, files)
    m1, m2, mp = (statistics.median(x) for x in (one, two, procs))
    total = CAPTURES * args.packets
    print(f"read_many, 1 worker:        median {m1:.3f} s  ({total / m1 / 1e6:.2f} M packets/s)  runs {sorted(round(x, 3) for x in one)}")
    print(f"read_many, 2 workers:       median {m2:.3f} s  ({total / m2 / 1e6:.2f} M packets/s)  runs {sorted(round(x, 3) for x in two)}")
    print(f"2 processes (tables pickled): median {mp:.3f} s  runs {sorted(round(x, 3) for x in procs)}")
    print(f"one warm interpreter, {args.runs} calls each: 1 worker {warm['one']:.3f} s, 2 workers "
          f"{warm['two']:.3f} s: {warm['one'] / warm['two']:.2f}×")
    print(f"(import rstlab, pyarrow before each timing: median {statistics.median(imports):.3f} s, not included)")
    s1, s2 = statistics.median(spin1), statistics.median(spin2)
    print(f"busy loop, 1 process {s1:.3f} s, 2 at once {s2:.3f} s: the second core was worth "
          f"{2 * s1 / s2:.2f}× (2.00× on an idle machine)")
    ratio = m1 / m2
    print(f"2 workers vs 1: {ratio:.2f}× (target ≥ 1.6×: {'met' if ratio >= 1.6 else 'NOT met'}); "
          f"threads vs processes at 2: {mp / m2:.2f}×; load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
