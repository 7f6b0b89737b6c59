"""``rstlab demo`` — the product at work, end to end, on this machine:

1. run the lab's whole catalogue (IPv4 and IPv6) on the real kernel and check the source text's
   claims S1–S12, with the kernel's own reason for every RST;
2. classify every capture — the lab's own and the public traces beside the checkout — and count
   the causes;
3. write it all down: ``claims.md``, ``agreement.md``, ``causes.md``, the captures (pcapng with
   each RST's cause as a packet comment) and an HTML report.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .render import agreement_markdown, claims_markdown, print_table


def _shared_traces() -> list[Path]:
    env = os.environ.get("RSTLAB_SHARED")
    here = Path(__file__).resolve()
    cands = ([Path(env)] if env else []) + [p.parent / "shared" for p in here.parents[:4]] + [Path.cwd().parent / "shared"]
    for c in cands:
        t = c / "traces"
        if (t / "MANIFEST.md").is_file():
            return sorted(p for p in t.rglob("*") if p.suffix in (".pcap", ".pcapng"))
    return []


def demo(out: str | os.PathLike[str], files: list[str] | None = None) -> int:
    from . import lab, read

    outdir = Path(out)
    (outdir / "captures").mkdir(parents=True, exist_ok=True)
    runs: list[Any] = []
    why = lab.privileges()
    print("== 1. The lab: every abnormal termination on this kernel ==")
    if why is None:
        t0 = time.perf_counter()
        runs = lab.run_all(progress=True, keep_dir=outdir / "captures")
        dt = time.perf_counter() - t0
        ok = [r for r in runs if isinstance(r, lab.Run)]
        for r in runs:
            if not isinstance(r, lab.Run):
                print(f"  run failed: {r}", file=sys.stderr)
        print(f"{len(ok)}/{len(runs)} runs in {dt:.1f} s")
        for r in ok:
            r.write_pcapng(outdir / "captures" / f"{r.scenario}-v{r.ip_version}.pcapng")
        claims = lab.claims(runs)
        (outdir / "claims.md").write_text(claims_markdown(claims))
        print_table([{k: c[k] for k in ("claim", "scenario", "ip_version", "verdict")} | {"evidence": c["evidence"][:90]}
                     for c in claims if c["ip_version"] == 4], ["claim", "scenario", "verdict", "evidence"])
        a = lab.agreement(runs)
        (outdir / "agreement.md").write_text(agreement_markdown(a))
        note = next((r.oracle_note for r in ok if r.oracle_note), None)
        if note:
            print(f"\nclassifier vs kernel: not checked ({note}); as root: sudo \"$(which python)\" -m rstlab demo")
        else:
            print(f"\nclassifier vs kernel: {a['agree']}/{a['stack_rsts']} RSTs the TCP stack sent agree; "
                  f"{a['non_stack_injected']}/{a['non_stack_rsts']} RSTs no stack sent called injected")
    else:
        print(f"skipped: {why}")

    print("\n== 2. The classifier on captures ==")
    paths = [Path(f) for f in files or []] + _shared_traces()
    if runs:
        paths = sorted((outdir / "captures").glob("*.pcapng")) + paths
    totals: Counter[str] = Counter()
    public = []
    n_conn = n_pkt = 0
    lab_dir = (outdir / "captures").resolve()
    for p in paths:
        t = read(p, errors="keep")
        if p.resolve().parent != lab_dir:
            # The lab's own captures reach the report through their runs.
            public.append(t)
        n_conn += len(t.connections)
        n_pkt += t.counts.get("tcp", 0)
        for c in t.resets["cause"]:
            totals[c] += 1
    print(f"{len(paths)} captures, {n_pkt} TCP segments, {n_conn} connections, {sum(totals.values())} RSTs")
    rows = [{"cause": c, "rsts": n} for c, n in totals.most_common()]
    print_table(rows, ["cause", "rsts"])
    (outdir / "causes.md").write_text("| cause | RSTs |\n|---|---|\n" + "".join(f"| {r['cause']} | {r['rsts']} |\n" for r in rows))

    print("\n== 3. The report ==")
    try:
        from .report import write_report
    except ImportError:
        print("report module not available")
    else:
        ok_runs = [r for r in runs if isinstance(r, lab.Run)]
        path = write_report(outdir / "report.html", traces=[t for t in public if len(t.resets)][:40], runs=ok_runs)
        print(f"wrote {path}")
    print(f"outputs in {outdir}/: claims.md agreement.md causes.md captures/")
    return 0
