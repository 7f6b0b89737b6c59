"""``rstlab.iter_batches``: a table in record batches while the capture is read. The rows must
be :func:`rstlab.read`'s (in the order connections finish, so compared sorted), on the lab's
kernel-labelled captures and the public ones.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import rstlab
from capwriter import ACK, FIN, PSH, SYN, Conv, Rec, ethernet, pcap

REPO = Path(__file__).resolve().parent.parent
KEYS = {"resets": ["frame"], "connections": ["conn_id"]}


def streamed(path: Path, table: str, batch_size: int = 7) -> pa.Table:
    batches = list(rstlab.iter_batches(path, table=table, batch_size=batch_size))
    assert all(isinstance(b, pa.RecordBatch) and 0 < b.num_rows <= batch_size for b in batches)
    return pa.Table.from_batches(batches) if batches else None


def assert_same_rows(path: Path, table: str) -> bool:
    """Whether the streamed rows equal read's; False (not compared) for a capture with a stream
    retired and continued, which streams as one row per part."""
    t = getattr(rstlab.read(path), table).to_arrow()
    got = streamed(path, table)
    if got is None:
        assert t.num_rows == 0, path
        return True
    if table == "connections" and len(set(got.column("conn_id").to_pylist())) < got.num_rows:
        return False
    got = got.sort_by([(k, "ascending") for k in KEYS[table]])
    assert got.column_names == t.column_names
    assert [f.type for f in got.schema] == [f.type for f in t.schema], path
    assert got.to_pylist() == t.to_pylist(), (path, table)
    return True


@pytest.mark.parametrize("table", ["resets", "connections"])
def test_lab_fixtures_stream_the_rows_read_gives(table: str) -> None:
    paths = sorted((REPO / "tests" / "fixtures" / "lab").glob("*.pcapng"))
    assert paths and all(assert_same_rows(p, table) for p in paths)


@pytest.mark.shared
@pytest.mark.parametrize("table", ["resets", "connections"])
def test_public_captures_stream_the_rows_read_gives(traces: Path, table: str) -> None:
    from conftest import all_captures

    compared = 0
    for p in all_captures(traces):
        try:
            rstlab.read(p)
        except (rstlab.RstlabError, OSError):
            continue  # damaged or unsupported: tested below and elsewhere
        compared += assert_same_rows(p, table)
    assert compared > 100


T0 = 1_796_504_400


def many_connections(tmp_path: Path, n: int, *, keep_first_open: bool = False) -> Path:
    """``n`` connections one after another, 0.1 s apart, each ending with FIN both ways; with
    ``keep_first_open`` the first one stays open (its last segment ends the file)."""
    recs: list[Rec] = []
    first = Conv("10.3.0.1", "10.9.0.1", 29999, 80)
    if keep_first_open:
        recs += [Rec(sec=T0, frac=0, data=ethernet(0x0800, first.seg(True, SYN)))]
    for i in range(n):
        c = Conv(f"10.2.{i // 250}.{i % 250 + 1}", "10.9.0.1", 30000 + i % 30000, 80)
        frames = [c.seg(True, SYN), c.seg(False, SYN | ACK), c.seg(True, ACK), c.seg(True, PSH | ACK, b"x"),
                  c.seg(True, FIN | ACK), c.seg(False, FIN | ACK), c.seg(True, ACK)]
        t = (T0 + 1) * 1_000_000 + i * 100_000
        recs += [Rec(sec=(t + k) // 1_000_000, frac=(t + k) % 1_000_000, data=ethernet(0x0800, f))
                 for k, f in enumerate(frames)]
    if keep_first_open:
        t = (T0 + 2) * 1_000_000 + n * 100_000
        recs += [Rec(sec=t // 1_000_000, frac=t % 1_000_000, data=ethernet(0x0800, first.seg(True, ACK)))]
    p = tmp_path / "many.pcap"
    p.write_bytes(pcap(1, recs))
    return p


def test_rows_come_as_connections_finish(tmp_path: Path) -> None:
    # 12,000 connections (84,000 segments) while connection 0 stays open to the end. The tracker
    # retires connections that ended 5 s before (Zeek's tcp_close_delay) every 65,536 segments:
    # those rows go out then, connection 0's only at the end of the file. Kept until the end,
    # connection 0 would be in the first batch (its slot comes first).
    n = 12_000
    p = many_connections(tmp_path, n, keep_first_open=True)
    batches = list(rstlab.iter_batches(p, table="connections", batch_size=1000))
    assert sum(b.num_rows for b in batches) == n + 1
    assert all(b.num_rows <= 1000 for b in batches)
    first = batches[0].column("conn_id").to_pylist()
    assert 0 not in first and max(first) < 65_536 // 7
    # The ~9,300 connections the sweep at segment 65,536 retired went out before connection 0.
    order = [i for b in batches for i in b.column("conn_id").to_pylist()]
    assert order.index(0) > 9_000
    assert len({b.schema for b in batches}) == 1  # the batches stack into one table


def test_leaving_early_stops_and_a_bad_table_is_a_value_error(tmp_path: Path) -> None:
    p = many_connections(tmp_path, 50)
    it = rstlab.iter_batches(p, table="connections", batch_size=5)
    first = next(it)
    assert first.num_rows == 5
    it.close()  # the generator's finally closes the reader: no thread is left waiting
    with pytest.raises(ValueError, match="table must be"):
        next(rstlab.iter_batches(p, table="segments"))


def test_damage_raises_after_the_rows_before_it(tmp_path: Path) -> None:
    p = many_connections(tmp_path, 20)
    data = p.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 3 // 4] + b"\xff" * 40)
    got = []
    with pytest.raises(rstlab.TraceFormatError):
        for b in rstlab.iter_batches(cut, table="connections", batch_size=1):
            got += b.column("conn_id").to_pylist()
    assert got and got == sorted(got)
