"""Plain-text renderings shared by the command line and the demo: aligned text tables and the
markdown of the claims and agreement reports. A leaf: it imports nothing from rstlab."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .rows import Agreement, Claim

__all__ = ["print_table", "claims_markdown", "agreement_markdown"]


def print_table(rows: list[dict[str, Any]], columns: list[str], out: Any = sys.stdout) -> None:
    """Plain aligned text columns."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")


def claims_markdown(rows: list[Claim]) -> str:
    out = ["| claim | scenario | IP | the post says | on Linux | evidence |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['claim']} | `{r['scenario']}` | v{r['ip_version']} | {r['statement']} | "
                   f"**{r['verdict']}** | {r['evidence']} |")
    return "\n".join(out) + "\n"


def agreement_markdown(a: Agreement) -> str:
    per: Counter[tuple[str, ...]] = Counter()
    for r in a["rows"]:
        per[(r["scenario"], r["host"], r["kernel_reason"] or "(no TCP-stack event)",
             r["kernel_cause"] or "-", r["cause"])] += 1
    out = ["| scenario | RST from | kernel reason | cause the kernel implies | classifier | RSTs |",
           "|---|---|---|---|---|---|"]
    for (sc, host, kr, kc, c), n in sorted(per.items()):
        mark = "" if kc in ("-", c) else " ✗"
        out.append(f"| `{sc}` | {host} | {kr} | {kc} | {c}{mark} | {n} |")
    share = "n/a" if a["share"] is None else f"{a['share']:.1%}"
    out.append("")
    out.append(f"Agreement on RSTs the TCP stack sent: **{a['agree']}/{a['stack_rsts']} ({share})**. "
               f"RSTs no TCP stack sent (netfilter, router, forger) called `injected`: "
               f"{a['non_stack_injected']}/{a['non_stack_rsts']}.")
    return "\n".join(out) + "\n"
