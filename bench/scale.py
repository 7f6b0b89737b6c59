#!/usr/bin/env python3
"""Scale benchmark (issue #15, Acceptance 1 and 5): one capture on every core, and the
connection-heavy shape. Figures and ratios against the references, all timed in the same run.

1. flows: a 2 M-packet headers-only capture (snap 128; ``examples/gen_capture``, 2,000
   concurrent connections). Alternated, each in a fresh process: the minimal Rust loop that
   walks the file and counts flows (``examples/walk_count``), ``rstlab.read(path, workers=1)``
   and ``rstlab.read(path)`` (every core) plus the connections table to pandas. Then
   ``tshark -n -r FILE -Y tcp.flags.reset==1`` on the same file. Targets: >= 5 M packets/s end
   to end, >= 40x tshark, peak RSS < 200 MB.
2. scan: 1 M closed ports probed (``gen_capture --scan``: SYN -> RST|ACK per port, 2 M packets,
   1 M connections, 1 M RSTs). rstlab end to end with every table built (connections to pandas,
   resets and zeek_conns as Arrow), and tshark the same way. Targets: >= 1 M packets/s, peak
   RSS <= 700 MB.
3. What the machine gives at that moment: a busy loop in 1 and in 2 processes at once.

Usage: python bench/scale.py [--packets N] [--runs K] [--no-tshark] [--only flows|scan]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from many import spin
from run import DATA, example, run_tshark

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import rstlab
t1 = time.perf_counter()
workers = None if sys.argv[2] == "all" else int(sys.argv[2])
t = rstlab.read(sys.argv[1], workers=workers)
t2 = time.perf_counter()
import pandas  # where a user's code would import it, outside the clock
t2b = time.perf_counter()
df = t.connections.to_pandas()
n_resets = n_zeek = 0
if sys.argv[3] == "all_tables":
    n_resets = t.resets.to_arrow().num_rows
    n_zeek = t.zeek_conns.to_arrow().num_rows
t3 = time.perf_counter() - (t2b - t2)
print(json.dumps({"import": t1 - t0, "read": t2 - t1, "end_to_end": t3 - t1, "connections": len(df),
                  "resets": n_resets, "zeek": n_zeek, "packets": t.counts["tcp"],
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def capture(kind: str, packets: int) -> Path:
    path = DATA / f"{kind}-{packets}.pcap"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        extra = ["--scan"] if kind == "scan" else ["2000"]
        subprocess.run([str(example("gen_capture")), str(path), str(packets), *extra], check=True)
    return path


def rstlab_run(path: Path, workers: str, tables: str) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, str(path), workers, tables],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def tshark_line(path: Path, packets: int, rstlab_pps: float) -> float | None:
    """Times ``tshark -n -r FILE -Y tcp.flags.reset==1`` once, prints it and rstlab's ratio to it."""
    ts = run_tshark(path, ["-Y", "tcp.flags.reset==1"])
    if ts is None:
        print("  tshark not installed: ratio not measured")
        return None
    tpps = packets / ts["seconds"]
    print(f"  {'tshark -Y reset':<22} {ts['seconds']:.1f} s -> {tpps / 1e6:.3f} M packets/s; "
          f"peak RSS {ts['maxrss_mb']:.0f} MB; rstlab / tshark = {rstlab_pps / tpps:.1f}x")
    return rstlab_pps / tpps


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def show(name: str, runs: list[dict], packets: int) -> float:
    e2e = med(runs, "end_to_end")
    pps = packets / e2e
    spread = ", ".join(f"{r['end_to_end']:.2f}" for r in sorted(runs, key=lambda r: r["end_to_end"]))
    print(f"  {name:<22} read {med(runs, 'read'):.2f} s, end to end {e2e:.2f} s -> {pps / 1e6:.2f} M packets/s; "
          f"peak RSS {max(r['maxrss_mb'] for r in runs):.0f} MB (runs: {spread})")
    return pps


def flows(packets: int, runs: int, tshark: bool) -> bool:
    path = capture("bench", packets)
    print(f"flows: {path.name}: {packets:,} packets, {path.stat().st_size / 2**20:.0f} MiB, snap 128")
    walk = example("walk_count")
    one, alls, ref = [], [], []
    for _ in range(runs):
        r = subprocess.run([str(walk), str(path)], capture_output=True, text=True, check=True)
        ref.append(json.loads(r.stdout))
        one.append(rstlab_run(path, "1", "connections"))
        alls.append(rstlab_run(path, "all", "connections"))
    n = one[0]["packets"]
    assert all(r["connections"] == one[0]["connections"] for r in one + alls), "same tables"
    p1 = show("rstlab workers=1", one, n)
    pa = show("rstlab every core", alls, n)
    ref_s = med(ref, "seconds")
    ref_pps = ref[0]["packets"] / ref_s
    print(f"  {'minimal loop':<22} {ref_s:.2f} s -> {ref_pps / 1e6:.2f} M packets/s (walk and count flows, one core)")
    print(f"  every core vs one: {pa / p1:.2f}x; rstlab (every core) is {pa / ref_pps:.0%} of the minimal loop")
    rss = max(r["maxrss_mb"] for r in alls)
    ok = pa >= 5e6 and rss < 200
    if tshark:
        ratio = tshark_line(path, n, pa)
        ok &= ratio is not None and ratio >= 40
    for name, good in [("end to end >= 5 M packets/s", pa >= 5e6), ("peak RSS < 200 MB", rss < 200)]:
        print(f"  target {name}: {'met' if good else 'NOT met'}")
    return ok


def scan(packets: int, runs: int, tshark: bool) -> bool:
    path = capture("scan", packets)
    print(f"scan: {path.name}: {packets:,} packets, {packets // 2:,} closed ports probed (SYN, RST|ACK)")
    one, alls = [], []
    for _ in range(runs):
        one.append(rstlab_run(path, "1", "all_tables"))
        alls.append(rstlab_run(path, "all", "all_tables"))
    n = one[0]["packets"]
    print(f"  {one[0]['connections']:,} connections, {one[0]['resets']:,} resets")
    show("rstlab workers=1", one, n)
    pa = show("rstlab every core", alls, n)
    rss = max(r["maxrss_mb"] for r in one + alls)
    if tshark:
        tshark_line(path, n, pa)
    good = [("end to end >= 1 M packets/s", pa >= 1e6), ("peak RSS <= 700 MB", rss <= 700)]
    for name, g in good:
        print(f"  target {name}: {'met' if g else 'NOT met'}")
    return all(g for _, g in good)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--only", choices=("flows", "scan"))
    args = ap.parse_args()
    s1, s2 = spin(1), spin(2)
    print(f"machine: busy loop, 1 process {s1:.2f} s, 2 at once {s2:.2f} s: the second core is worth "
          f"{2 * s1 / s2:.2f}x now")
    ok = True
    if args.only in (None, "flows"):
        ok &= flows(args.packets, args.runs, not args.no_tshark)
    if args.only in (None, "scan"):
        ok &= scan(args.packets, max(1, args.runs // 2), not args.no_tshark)
    s1, s2 = spin(1), spin(2)
    print(f"machine after: the second core is worth {2 * s1 / s2:.2f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
