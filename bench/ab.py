#!/usr/bin/env python3
"""Compare builds of rstlab end to end, in alternated runs (noise on a shared machine weighs on
all alike): the bench's own child process (``rstlab.read`` plus the connections table to
pandas, in a fresh interpreter) run in turn with each build's package on ``sys.path``.

    python bench/ab.py NAME=DIR NAME=DIR ... [--runs 10] [--packets 5000000]

With ``RSTLAB_BENCH_WORKERS=1`` in the environment, builds that have ``read(workers=)`` read on
one thread, so a build from before it is compared like for like.

Each DIR holds a built ``rstlab`` package (e.g. a copy of site-packages/rstlab, or
``pip install --target DIR --no-deps .``). Prints per build: median and best end to end, the
ratio of medians and of bests against the first build, and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import CHILD, DATA, generate  # noqa: E402  (the bench's own child and capture)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="NAME=DIR")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--packets", type=int, default=5_000_000)
    args = ap.parse_args()
    builds = [tuple(b.split("=", 1)) for b in args.builds]
    path = DATA / f"bench-{args.packets}.pcap"
    generate(path, args.packets)
    times: dict[str, list[float]] = {n: [] for n, _ in builds}
    rss: dict[str, float] = {n: 0.0 for n, _ in builds}
    for i in range(args.runs):
        # Alternate the order too, so neither build always runs right after the other.
        for name, d in (builds if i % 2 == 0 else builds[::-1]):
            env = dict(os.environ, PYTHONPATH=str(Path(d).resolve()))
            r = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                               check=True, env=env)
            out = json.loads(r.stdout)
            times[name].append(out["end_to_end"])
            rss[name] = max(rss[name], out["maxrss_mb"])
    first = builds[0][0]
    m0, b0 = statistics.median(times[first]), min(times[first])
    for name, _ in builds:
        t = times[name]
        m, b = statistics.median(t), min(t)
        print(f"{name:>12}: median {m:.3f} s ({m / m0 - 1:+.1%}), best {b:.3f} s ({b / b0 - 1:+.1%}), "
              f"peak RSS {rss[name]:.0f} MB; runs {', '.join(f'{x:.2f}' for x in sorted(t))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
