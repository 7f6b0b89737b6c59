"""One capture on several cores (``rstlab.read(path, workers=N)``): the tables are exactly the
single-threaded pass's, ``conn_id`` numbering included.

The reference is the one-thread pass (``workers=1``) and, independently, tshark's ``tcp.stream``
(tests/test_tshark_parity.py reads with the default, every core). The captures: every public one
in ../shared/traces, the lab's own fixtures, and one written here that makes a pass retire idle
connections (after every 65,536th segment) while some of them come back, reuse their ports or
end with RSTs — the cases where a split by flow could go wrong.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import rstlab
from capwriter import ACK, FIN, PSH, RST, SYN, Rec, ethernet, ipv4, pcap, tcp

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "traces"
FIXTURES = ROOT / "tests" / "fixtures" / "lab"
TABLES = ("connections", "resets", "zeek_conns")


def captures() -> list[Path]:
    found = sorted(FIXTURES.rglob("*.pcap*"))
    if SHARED.is_dir():
        found += sorted(p for p in SHARED.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap", ".trace"))
    return found


def same_tables(path: Path, workers: int) -> list[str]:
    one = rstlab.read(path, workers=1, errors="keep")
    many = rstlab.read(path, workers=workers, errors="keep")
    differ = [t for t in TABLES if not getattr(one, t).to_arrow().equals(getattr(many, t).to_arrow())]
    if one.counts["tcp"] != many.counts["tcp"] or one.counts["frames"] != many.counts["frames"]:
        differ.append("counts")
    return differ


def test_every_capture_gives_the_same_tables_on_two_and_three_workers() -> None:
    paths = captures()
    assert len(paths) > 90, "the lab fixtures are in the repo"
    bad = {}
    for p in paths:
        try:
            rstlab.read(p, workers=1)
        except rstlab.TraceFormatError:
            pass  # damaged on purpose: compared with errors="keep" all the same
        except (rstlab.UnsupportedLinkTypeError, OSError):
            continue
        for w in (2, 3):
            if d := same_tables(p, w):
                bad[f"{p.name} workers={w}"] = d
    assert not bad, bad


def _frame(sec: float, src: str, dst: str, sp: int, dp: int, seq: int, ack: int, flags: int,
           payload: bytes = b"") -> Rec:
    ip = ipv4(src, dst, 6, tcp(sp, dp, seq, ack, flags, payload, src=src, dst=dst))
    us = round(sec * 1e6)
    return Rec(us // 1_000_000, us % 1_000_000, ethernet(0x0800, ip))


def sweeping_capture() -> tuple[bytes, int]:
    """~150k segments over 2 h of capture time: 3 sweeps pass while these connections live:
    - `back`: ends with a RST at 0.1 s, is retired when idle past 5 s, then sends again at 40 s
      with no new SYN (Wireshark: the same stream; rstlab: one row from two parts);
    - `reuse`: a new SYN with another ISN on the same 4-tuple at 50 s (a new stream);
    - `tomb`: one segment, then another 2 h later, before any sweep could drop its tombstone
      (the same stream, as tshark has it);
    - 3,000 filler connections of 50 segments each, interleaved, some closing with FIN and
      some with RST, across both shards.
    Returns the file and the number of TCP segments in it."""
    recs: list[Rec] = []
    c, s = "10.1.0.1", "10.2.0.1"

    def add(t: float, *a: object) -> None:
        recs.append(_frame(t, *a))  # type: ignore[arg-type]

    # back: handshake, data, RST
    add(0.00, c, s, 4001, 80, 100, 0, SYN)
    add(0.01, s, c, 80, 4001, 900, 101, SYN | ACK)
    add(0.02, c, s, 4001, 80, 101, 901, ACK)
    add(0.10, s, c, 80, 4001, 901, 0, RST)
    # reuse: a first incarnation
    add(0.20, c, s, 4002, 80, 7000, 0, SYN)
    add(0.21, s, c, 80, 4002, 3000, 7001, SYN | ACK)
    # tomb: one data segment then silence
    add(0.30, c, s, 4003, 80, 555, 777, ACK | PSH, b"x" * 10)
    t = 1.0
    filler = 3000
    per = 50
    for k in range(per):
        for i in range(filler):
            cp, fc = 20000 + i, f"10.3.{i // 250}.{1 + i % 250}"
            if k == 0:
                add(t, fc, s, cp, 443, 1, 0, SYN)
            elif k == 1:
                add(t, s, fc, 443, cp, 10, 2, SYN | ACK)
            elif k == per - 1:
                add(t, fc, s, cp, 443, 2 + 100 * (k - 2), 11, (RST | ACK) if i % 3 == 0 else (FIN | ACK))
            else:
                add(t, fc, s, cp, 443, 2 + 100 * (k - 2), 11, ACK | PSH, b"d" * 100)
            t += 0.00025
        if k == 10:
            add(t, c, s, 4001, 80, 101, 901, ACK | PSH, b"again")  # back, after its retirement
            add(t + 0.0001, c, s, 4002, 80, 424242, 0, SYN)  # reuse: new ISN, new stream
    t_late = t + 7300.0
    add(t_late, c, s, 4003, 80, 565, 777, ACK | PSH, b"late")  # tomb: after 2 h
    for i in range(70_000):  # a last sweep after the late one, with the filler long gone
        add(t_late + 1 + i * 1e-4, "10.9.0.1", s, 30000 + i % 20000, 22, i, 0, SYN)
    return pcap(1, recs), len(recs)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    data, n = sweeping_capture()
    p = tmp_path_factory.mktemp("workers") / "sweeps.pcap"
    p.write_bytes(data)
    return p, n


def test_connections_retired_and_resumed_keep_their_numbers_on_every_worker_count(swept: tuple[Path, int]) -> None:
    path, n = swept
    assert n > 3 * 65_536, "at least three sweeps"
    for w in (2, 3, 4):
        assert same_tables(path, w) == [], f"workers={w}"


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed (make system-deps)")
def test_conn_id_is_tsharks_tcp_stream_on_the_sweeping_capture(swept: tuple[Path, int]) -> None:
    path, n = swept
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "tcp.stream"],
                         capture_output=True, text=True, check=True).stdout
    tshark = {int(f): int(s) for f, s in (line.split("\t") for line in out.splitlines())}
    assert len(tshark) == n
    t = rstlab.read(path, workers=2)
    conns = t.connections.to_arrow().to_pylist()
    # Every connection's first and last frame carry its conn_id in tshark's numbering.
    assert len(conns) == max(tshark.values()) + 1
    for c in conns:
        assert tshark[c["first_frame"]] == c["conn_id"]
        assert tshark[c["last_frame"]] == c["conn_id"]


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        rstlab.read(ROOT / "README.md", workers=0)
