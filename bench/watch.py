"""`rstlab watch` under churn: its CPU share and the packets it dropped (as root).

    sudo python bench/watch.py [--connections 100000] [--seconds 10] [--rate 10000] [--clients 2]

Creates a namespace (`ip netns add rstlab-bench-<pid>`, loopback only, removed at the end),
starts `rstlab.watch` on it in this process, and drives short connections inside it from
separate processes: a server that accepts and closes, and client processes that connect and
close, paced to `--rate` connections per second in total, until `--connections` were made or
`--seconds` passed. One connection in 50 ends with SO_LINGER 0 (an abort RST) and one in 50
goes to a closed port (a refused RST), so the classifier and the kernel join have work too.

The figure is this process's CPU time (getrusage: the watch's worker thread, plus the Python
loop taking its rows) over the wall time of the churn, in percent of one core; drops come from
the packet socket's PACKET_STATISTICS and the trace ring's overrun counters.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

SERVER = r"""
import os, socket, struct, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 7000))
s.listen(4096)
print("ready", flush=True)
n = 0
linger = struct.pack("ii", 1, 0)
while True:
    c, _ = s.accept()
    n += 1
    if n % 50 == 0:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    c.close()
"""

CLIENT = r"""
import socket, sys, time
count, rate, seconds, seed = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
t0 = time.monotonic()
made = 0
while made < count and time.monotonic() - t0 < seconds:
    # Pace: never ahead of the rate.
    ahead = made / rate - (time.monotonic() - t0)
    if ahead > 0:
        time.sleep(ahead)
    made += 1
    port = 7001 if (made + seed) % 50 == 0 else 7000
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        pass
    s.close()
print(made, time.monotonic() - t0, flush=True)
"""


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=10_000.0, help="connections per second, all clients together")
    ap.add_argument("--clients", type=int, default=2)
    args = ap.parse_args()
    import rstlab

    ns = f"rstlab-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    procs: list[subprocess.Popen[str]] = []
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        exe = ["ip", "netns", "exec", ns, sys.executable, "-c"]
        server = subprocess.Popen(exe + [SERVER], stdout=subprocess.PIPE, text=True)
        procs.append(server)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        rows = 0
        with rstlab.watch(netns=ns, settle=1.0) as w:
            time.sleep(0.5)
            cpu0, t0 = cpu_seconds(), time.monotonic()
            per = args.connections // args.clients
            clients = [subprocess.Popen(exe + [CLIENT, str(per), str(args.rate / args.clients), str(args.seconds), str(i)],
                                        stdout=subprocess.PIPE, text=True) for i in range(args.clients)]
            procs += clients
            while any(c.poll() is None for c in clients):
                rows += len(w.poll(0.2))
            wall = time.monotonic() - t0
            cpu = cpu_seconds() - cpu0
            made = 0
            for c in clients:
                out, _ = c.communicate()
                made += int(out.split()[0])
            rows += len(w.drain())
            stats = w.stats
        print(f"churn: {made} connections in {wall:.2f} s = {made / wall:,.0f}/s inside namespace {ns}")
        print(f"watch: {cpu:.2f} CPU s over {wall:.2f} s wall = {100 * cpu / wall:.1f}% of one core")
        print(f"watch: {stats['frames']:,} frames seen, {stats['dropped']:,} dropped by the socket, "
              f"{stats['kernel_events']:,} kernel events, {stats['kernel_overruns']:,} lost in the trace ring, "
              f"{rows:,} RSTs judged, peak {stats['peak_alive']:,} connections tracked")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    sys.exit(main())
