"""Runs every catalogue scenario once per IP version (in parallel, cached for the session) and
prints the verdict table at the end."""

from __future__ import annotations

from typing import Any

import pytest

from rstlab import lab

_RESULTS: list[dict[str, Any]] = []


@pytest.fixture(scope="session")
def runs() -> dict[tuple[str, int], lab.Run]:
    # The suite checks the kernel's own reasons (tracepoints), which a user namespace cannot read.
    if lab.mode() != "root":
        pytest.skip(lab.privileges() or 'the conformance suite checks the kernel\'s reasons, which need real root: '
                    'sudo "$(which python)" -m rstlab conform')
    out = {}
    for r in lab.run_all(parallel=8):
        if isinstance(r, lab.Run):
            out[(r.scenario, r.ip_version)] = r
    return out


def record(kind: str, name: str, verdict: str, evidence: str) -> None:
    _RESULTS.append({"kind": kind, "name": name, "verdict": verdict, "evidence": evidence})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("rstlab conformance: this kernel against the source text and the RFCs")
    w = max(len(r["name"]) for r in _RESULTS)
    for r in sorted(_RESULTS, key=lambda x: (x["kind"], x["name"])):
        tr.write_line(f"{r['kind']:<6} {r['name']:<{w}}  {r['verdict']:<7}  {r['evidence'][:140]}")
