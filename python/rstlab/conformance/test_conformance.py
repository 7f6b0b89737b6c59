"""The claims and the RFC rules, against the running kernel (see the package docstring)."""

from __future__ import annotations

import pytest

from rstlab import lab
from rstlab.conformance.conftest import record
from rstlab.rows import RunResetRow, SegmentRow

Runs = dict[tuple[str, int], lab.Run]

CLAIM_SCENARIOS = [(s["name"], v) for s in lab.scenarios() if s["claim"] for v in s["ip_versions"]]


@pytest.mark.parametrize("name,ip", CLAIM_SCENARIOS, ids=[f"{n}-v{v}" for n, v in CLAIM_SCENARIOS])
def test_claim(runs: Runs, name: str, ip: int) -> None:
    r = runs.get((name, ip))
    assert r is not None, f"{name} v{ip} did not run"
    assert r.verdict in ("holds", "differs")
    record("claim", f"{r.claim} {name} v{ip}", r.verdict, r.evidence)


def one_rst(runs: Runs, name: str, ip: int, host: str) -> RunResetRow:
    r = runs[(name, ip)]
    rsts = [x for x in r.resets if x["host"] == host]
    assert rsts, f"{name} v{ip}: no RST from the {host}"
    return rsts[0]


def seg(runs: Runs, name: str, ip: int, frame: int | None) -> SegmentRow:
    assert frame is not None, f"{name} v{ip}: the RST answers no segment (trigger is null)"
    return next(s for s in runs[(name, ip)].trace.segments if s["frame"] == frame)


@pytest.mark.parametrize("ip", [4, 6])
def test_rfc9293_closed_port_answers_syn_with_rst_ack_seq_zero(runs: Runs, ip: int) -> None:
    # RFC 9293 §3.10.7.1: SEG had no ACK → <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    x = one_rst(runs, "s1_closed_port", ip, "server")
    syn = seg(runs, "s1_closed_port", ip, x["trigger"])
    assert x["flags"] == "R." and x["seq"] == 0 and x["ack"] == (syn["seq"] + 1) % 2**32
    record("rfc", f"RFC 9293 3.10.7.1 RST to a SYN v{ip}", "holds", "RST|ACK seq=0 ack=SYN+1")


@pytest.mark.parametrize("ip", [4, 6])
def test_rfc9293_no_connection_answers_ack_with_seq_eq_seg_ack(runs: Runs, ip: int) -> None:
    # RFC 9293 §3.10.7.1: SEG had ACK → <SEQ=SEG.ACK><CTL=RST>, no ACK bit.
    x = one_rst(runs, "s10_crash_reboot", ip, "server")
    trig = seg(runs, "s10_crash_reboot", ip, x["trigger"])
    assert x["flags"] == "R" and x["seq"] == trig["ack"]
    record("rfc", f"RFC 9293 3.10.7.1 RST to an ACK v{ip}", "holds", "RST seq=SEG.ACK, no ACK bit")


@pytest.mark.parametrize("ip", [4, 6])
def test_rfc5961_exact_rst_resets_in_window_is_challenged_outside_ignored(runs: Runs, ip: int) -> None:
    # RFC 5961 §3.2: SEQ = RCV.NXT resets; in window but not exact → challenge ACK; outside → drop.
    got = {n: one_rst(runs, f"forged_rst_{n}", ip, "forger")["effect"] for n in ("exact", "in_window", "out_of_window")}
    assert got == {"exact": "terminated", "in_window": "challenged", "out_of_window": "ignored"}, got
    record("rfc", f"RFC 5961 3.2 RST acceptance v{ip}", "holds", f"{got}")


@pytest.mark.parametrize("ip", [4, 6])
def test_rfc2525_close_with_unread_data_sends_rst(runs: Runs, ip: int) -> None:
    # RFC 2525 §2.17: closing with unread received data must send RST, not FIN.
    x = one_rst(runs, "close_with_unread_data", ip, "server")
    assert x["cause"] == "abort" and x["kernel_reason"] == "TCP_ABORT_ON_CLOSE"
    record("rfc", f"RFC 2525 2.17 close with unread data v{ip}", "holds", "RST, kernel TCP_ABORT_ON_CLOSE")


@pytest.mark.parametrize("ip", [4, 6])
def test_rfc1122_abort_sends_rst_and_peer_sees_econnreset(runs: Runs, ip: int) -> None:
    # RFC 1122 §4.2.2.13 / RFC 9293 §3.10.5 ABORT: send RST, the peer's calls fail (ECONNRESET).
    r = runs[("s11_linger_zero", ip)]
    x = one_rst(runs, "s11_linger_zero", ip, "client")
    errs = [a["errno"] for a in r.app_events if a["host"] == "server" and a["errno"]]
    assert x["flags"] == "R." and "ECONNRESET" in errs
    record("rfc", f"RFC 1122 4.2.2.13 abort v{ip}", "holds", "RST|ACK at SND.NXT; peer ECONNRESET")
