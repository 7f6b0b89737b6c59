"""Drill-down without a full pass: ``Trace.connection(i)`` re-reads only the frames connection
``i`` spans. Its segments must be exactly what the full pass kept for that connection (the
old way: ``segments=conn_id`` over the whole file), on captures whose connections overlap, on
a file large enough for the pass to mark places to resume from, and on the public captures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import rstlab
from rstlab import _rstlab
from capwriter import ACK, FIN, PSH, SYN, Conv, Rec, ethernet, ng_epb, ng_idb, ng_shb, pcap

REPO = Path(__file__).resolve().parent.parent
MARK = 8 << 20  # the pass marks a place to resume from every 8 MiB


def full_pass_segments(path: Path, conn_id: int) -> object:
    """The old way: one pass over the whole file keeping connection ``conn_id``'s segments."""
    return _rstlab.analyze_file(str(path), segments=conn_id).segments


def assert_same_as_full_pass(path: Path, ids: list[int]) -> None:
    import pyarrow as pa

    t = rstlab.read(path)
    for i in ids:
        got = t.connection(i).segments.to_arrow()
        want = pa.table(full_pass_segments(path, i))
        assert got.schema == want.schema, (path, i)
        assert got.equals(want), (path, i)


def big_records() -> list[Rec]:
    """~24 MiB of frames: 2,000 connections, four open at a time and their frames interleaved,
    each data segment padded to a full frame (Ethernet padding after the IP packet), so that
    connections start and end past several resume marks."""
    convs = [Conv(f"10.1.{i // 250}.{i % 250 + 1}", "10.9.0.1", 20000 + i, 80) for i in range(2000)]
    pad = bytes(1400)
    scripts = []
    for c in convs:
        frames = [c.seg(True, SYN), c.seg(False, SYN | ACK), c.seg(True, ACK)]
        frames += [c.seg(True, PSH | ACK, b"x" * 100) for _ in range(3)]
        frames += [c.seg(False, ACK), c.seg(True, FIN | ACK), c.seg(False, FIN | ACK), c.seg(True, ACK)]
        scripts.append(frames)
    recs: list[Rec] = []
    t = 1_796_504_400 * 1_000_000
    for g in range(0, len(scripts), 4):
        group = scripts[g:g + 4]
        for step in range(max(map(len, group))):
            for s in group:
                if step < len(s):
                    t += 7
                    recs.append(Rec(sec=t // 1_000_000, frac=t % 1_000_000, data=ethernet(0x0800, s[step]) + pad))
    return recs


@pytest.fixture(scope="module")
def big_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The frames of `big_records` as a classic pcap."""
    p = tmp_path_factory.mktemp("drill") / "big.pcap"
    p.write_bytes(pcap(1, big_records()))
    assert p.stat().st_size > 2 * MARK
    return p


def big_ng(recs: list[Rec], late_interface: bool) -> bytes:
    """The frames as pcapng (pcapng §4): a section header and two interfaces (the frames on the
    second), or with `late_interface` the second interface described after the first packet —
    a section with no place to resume from (its interfaces are not all before its packets)."""
    head = [ng_shb(), ng_idb(147, snaplen=0, name="other")]
    tail = [ng_idb(1, snaplen=0, name="eth0")]
    epbs = [ng_epb(1, r.sec * 1_000_000 + r.frac, r.data) for r in recs]
    if late_interface:
        return b"".join(head + [ng_epb(0, 0, b"\0" * 20)] + tail + epbs)
    return b"".join(head + tail + epbs)


@pytest.fixture(scope="module", params=[False, True], ids=["interfaces_first", "late_interface"])
def big_pcapng(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    late = bool(request.param)
    p = tmp_path_factory.mktemp("drill") / f"big-{late}.pcapng"
    p.write_bytes(big_ng(big_records(), late))
    assert p.stat().st_size > 2 * MARK
    return p, late


def test_a_pcapng_resumes_past_its_section_header_and_interfaces(big_pcapng: tuple[Path, bool]) -> None:
    path, late = big_pcapng
    native = _rstlab.analyze_file(str(path))
    marks = path.stat().st_size // MARK
    if late:
        # An interface described after a packet: no place to resume from (read from the start).
        assert native.index_bytes == 0
    else:
        assert marks * 32 <= native.index_bytes <= 4 * marks * 32
    t = rstlab.read(path)
    n = len(t.connections)
    assert n == 2000
    ids = sorted({0, 1, n - 1} | {k for m in range(1, 4) for k in range(m * 560 - 3, m * 560 + 3)})
    assert_same_as_full_pass(path, [i for i in ids if i < n])


def test_the_pass_marks_places_to_resume_from(big_pcap: Path) -> None:
    native = _rstlab.analyze_file(str(big_pcap))
    # One mark per 8 MiB read, 32 bytes each.
    marks = big_pcap.stat().st_size // MARK
    assert marks * 32 <= native.index_bytes <= 4 * marks * 32


def test_connections_past_the_marks_equal_the_full_pass(big_pcap: Path) -> None:
    t = rstlab.read(big_pcap)
    n = len(t.connections)
    assert n == 2000
    # The first, some around each 8 MiB mark (~560 connections apart), and the last.
    ids = sorted({0, 1, 2, 3, n - 1, n - 2} | {k for m in range(1, 4) for k in range(m * 560 - 4, m * 560 + 4)})
    assert_same_as_full_pass(big_pcap, ids)


def test_lab_fixtures_equal_the_full_pass() -> None:
    for p in sorted((REPO / "tests" / "fixtures" / "lab").glob("*.pcapng"))[:12]:
        n = len(rstlab.read(p).connections)
        assert_same_as_full_pass(p, list(range(min(n, 6))))


@pytest.mark.shared
def test_public_captures_equal_the_full_pass(traces: Path) -> None:
    from conftest import all_captures

    checked = 0
    for p in all_captures(traces):
        try:
            t = rstlab.read(p)
        except (rstlab.RstlabError, OSError):
            continue  # damaged or unsupported captures are tested elsewhere
        n = len(t.connections)
        ids = sorted({0, n // 2, n - 1}) if n else []
        assert_same_as_full_pass(p, ids)
        checked += len(ids)
    assert checked > 100


def test_a_damaged_capture_drills_down_as_the_full_pass_did(tmp_path: Path) -> None:
    # The file ends inside a record (truncated capture): read(errors="keep") keeps what came
    # before, and the last connection's segments are those before the damage, as before.
    src = REPO / "tests" / "fixtures" / "lab" / "s11_linger_zero-v4.pcapng"
    data = src.read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[: len(data) - 40])
    t = rstlab.read(cut, errors="keep")
    assert t.error is not None
    n = len(t.connections)
    assert n > 0
    assert_damaged_same(cut, list(range(n)))


def assert_damaged_same(path: Path, ids: list[int]) -> None:
    import pyarrow as pa

    t = rstlab.read(path, errors="keep")
    for i in ids:
        got = t.connection(i).segments.to_arrow()
        assert got.equals(pa.table(full_pass_segments(path, i))), (path, i)
