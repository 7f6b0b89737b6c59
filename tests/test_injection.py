"""Injected RSTs against natural ones: the false-alarm rate of ``injected``.

Ground truth is never the classifier's output. On the public captures in ``../shared/traces`` a
RST is natural unless the MANIFEST (or the trace) names it forged; the forged ones, and every
natural RST that the classifier nonetheless calls ``injected``, are listed with their reason in
``fixtures/injection_public.tsv`` — a new false alarm fails the test until it is understood and
listed. On the lab's kernel-labelled captures (``fixtures/lab``), a RST is natural when the
kernel's ``tcp:tcp_send_reset`` made it, forged when the forger's raw socket did (``kernel.tsv``
``stack_sent``). DESIGN §3: natural RSTs called ``injected`` stay at or below 0.5 %; issue #12:
forged ones are called ``injected`` at least 95 % of the time.
"""

from __future__ import annotations

import csv
from pathlib import Path

import rstlab

from conftest import all_captures

FIX = Path(__file__).resolve().parent / "fixtures"
MAX_FALSE_ALARM = 0.005


def _tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_public_captures_natural_rsts_are_not_called_injected(traces: Path) -> None:
    listed = {(r["file"], int(r["frame"])): r for r in _tsv(FIX / "injection_public.tsv")}
    assert all(r["reason"].strip() for r in listed.values())
    natural = flagged = 0
    unexplained: list[str] = []
    forged_missed: list[str] = []
    seen: set[tuple[str, int]] = set()
    for p in all_captures(traces):
        rel = str(p.relative_to(traces))
        for r in rstlab.read(p).resets:
            key = (rel, int(r["frame"]))
            seen.add(key)
            truth = listed.get(key, {}).get("truth", "natural")
            if truth == "forged":
                if r["cause"] != "injected":
                    forged_missed.append(f"{rel} frame {key[1]}: {r['cause']} | {r['evidence']}")
                continue
            natural += 1
            if r["cause"] == "injected":
                flagged += 1
                if truth != "natural_flagged":
                    unexplained.append(f"{rel} frame {key[1]}: {r['evidence']}")
    assert set(listed) <= seen, set(listed) - seen
    assert natural >= 200, natural
    rate = flagged / natural
    print(f"public captures: {natural} natural RSTs, {flagged} called injected ({100 * rate:.2f} %)")
    assert not unexplained, "\n".join(unexplained)
    assert not forged_missed, "\n".join(forged_missed)
    assert rate <= MAX_FALSE_ALARM, (flagged, natural)


def test_lab_captures_forged_rsts_are_injected_and_natural_ones_are_not() -> None:
    rows = _tsv(FIX / "lab" / "kernel.tsv")
    got = {}
    for name in {r["file"] for r in rows}:
        for r in rstlab.read(FIX / "lab" / name).resets:
            got[(name, int(r["frame"]))] = r
    natural = [got[(r["file"], int(r["frame"]))] for r in rows if r["stack_sent"] == "yes"]
    forged = [got[(r["file"], int(r["frame"]))] for r in rows if r["stack_sent"] == "no"]
    assert len(natural) >= 60 and len(forged) >= 20, (len(natural), len(forged))
    false_alarms = [r for r in natural if r["cause"] == "injected"]
    # A reject of a connection's very first SYN has no earlier packet of the claimed sender to
    # compare with: the wire cannot tell it from a closed port (its evidence says so).
    judgeable = [r for r in forged if not (r["phase"] == "handshake" and r["cause"] == "refused")]
    caught = [r for r in judgeable if r["cause"] == "injected"]
    print(f"lab captures: {len(natural)} natural, {len(false_alarms)} called injected; "
          f"{len(judgeable)} forged, {len(caught)} called injected")
    assert len(false_alarms) <= MAX_FALSE_ALARM * len(natural), [(r["frame"], r["evidence"]) for r in false_alarms]
    assert len(caught) >= 0.95 * len(judgeable)
