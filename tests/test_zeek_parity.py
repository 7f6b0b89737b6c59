"""Zeek parity of the connections table: conn_state and history against Zeek's own rows.

Expected values are Zeek's test baselines (``REFERENCE_zeek_conn.tsv``), matched by 5-tuple to
rstlab's connections table. Each row is run with the baseline's own Zeek flags: without ``-C``
checksums are verified and bad packets dropped as Zeek does; ``-b`` means no protocol scripts.
"""

from __future__ import annotations

import csv
from pathlib import Path

import rstlab

# Configuration the TSV's zeek_flags column does not show, read from the baseline's test script.
FROM_TEST_SOURCE = {
    # the script runs `zeek -b -Cr .../ftp-password-pass-command.pcap`
    "scripts.base.protocols.ftp.ftp-password-pass-command": "-C",
    # `ignore_checksums_nets += {192.168.0.0/16}` covers the only sender with bad checksums
    "core.checksums_ignore_nets/conn-worked": "-C",
}


def has_opt(flags: str, opt: str) -> bool:
    return any(w.startswith("-") and not w.startswith("--") and opt in w[1:] for w in flags.split())


def test_conn_state_and_history_match_zeek(traces: Path) -> None:
    with open(traces / "REFERENCE_zeek_conn.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert len(rows) > 90
    cache: dict[tuple[str, bool, bool], dict] = {}
    ok, mismatches = 0, []
    for r in rows:
        flags = r["zeek_flags"]
        for base, extra in FROM_TEST_SOURCE.items():
            if base in r["baselines"]:
                flags += " " + extra
        ignore, bare = has_opt(flags, "C"), has_opt(flags, "b")
        key = (r["file"], ignore, bare)
        if key not in cache:
            t = rstlab.read(traces / r["file"], zeek_checksums=not ignore, zeek_bare=bare, errors="keep")
            by_tuple: dict = {}
            for c in t.zeek_conns:
                by_tuple.setdefault((c["orig_addr"], c["orig_port"], c["resp_addr"], c["resp_port"]), []).append(
                    (c["conn_state"], c["history"]))
            cache[key] = by_tuple
        # Zeek may log one tuple more than once (its timers split it); any of them may be the row.
        got_all = cache[key].get((r["orig_h"], int(r["orig_p"]), r["resp_h"], int(r["resp_p"])), [])
        want = (r["conn_state"], r["history"])
        got = want if want in got_all else got_all
        if got == (r["conn_state"], r["history"]):
            ok += 1
        else:
            mismatches.append(f"{r['file']} {r['orig_h']}:{r['orig_p']}->{r['resp_h']}:{r['resp_p']} "
                              f"[{flags}] zeek {r['conn_state']} {r['history']} rstlab {got}")
    share = ok / len(rows)
    print(f"\nZeek parity: {ok}/{len(rows)} = {share:.1%}")
    for m in mismatches:
        print("  mismatch:", m)
    assert share >= 0.95
