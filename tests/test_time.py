"""Capture times end to end: ``timestamp[ns, tz=UTC]`` columns from the exact nanoseconds.

Expected values come from the capture as written (pcap §5 / pcapng §4.3 timestamps in
nanoseconds) and from tshark's ``frame.time_epoch``, which prints all nine digits.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import rstlab
from rstlab import _rstlab
from rstlab.table import plain, rfc3339, time_ns
from capwriter import Conv, Rec, ethernet, pcap

NS = 1_000_000_000
# 2026-12-05T21:00:00Z: at this epoch a float of seconds steps by 2**-22 s (238 ns), so frames
# 100 ns apart collapse into one value or swap.
EPOCH = 1_796_504_400
STEP = 100


def tshark_epochs(tshark: str, path: Path) -> list[int]:
    out = subprocess.run([tshark, "-n", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch"],
                         capture_output=True, text=True, check=True).stdout
    whole_frac = [line.partition(".") for line in out.split()]
    return [int(w) * NS + int((f + "000000000")[:9]) for w, _, f in whole_frac]


@pytest.fixture
def close_frames(tmp_path: Path) -> tuple[Path, list[int]]:
    """A pcapng written by rstlab's own writer (if_tsresol 9) from a nanosecond pcap: the five
    segments of a conversation, 100 ns apart, 0.5 s after EPOCH."""
    conv = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    want = [EPOCH * NS + 500_000_000 + i * STEP for i in range(5)]
    recs = [Rec(sec=t // NS, frac=t % NS, data=ethernet(0x0800, ip))
            for t, ip in zip(want, conv.handshake_data_rst())]
    src = tmp_path / "close.pcap"
    src.write_bytes(pcap(1, recs, nano=True))
    dst = tmp_path / "close.pcapng"
    _rstlab.write_pcapng_with_comments(str(src), str(dst), {})
    return dst, want


def test_float_seconds_would_lose_the_steps() -> None:
    # The reason for the column type: what float seconds make of the same instants.
    t = [EPOCH * NS + 500_000_000 + i * STEP for i in range(5)]
    assert [round(x / NS * NS) for x in t] != t


def test_times_100ns_apart_stay_distinct_and_ordered(close_frames: tuple[Path, list[int]], tshark: str) -> None:
    path, want = close_frames
    assert tshark_epochs(tshark, path) == want  # the file holds what was written
    t = rstlab.read(path)
    segs = t.connection(0).segments.to_arrow()
    assert segs.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert segs.column("ts").cast(pa.int64()).to_pylist() == want
    assert [time_ns(v) for v in t.connection(0).segments["ts"]] == want
    rst = t.resets.to_arrow().column("ts").cast(pa.int64()).to_pylist()
    assert rst == [want[4]]
    conn = t.connections.to_arrow()
    assert conn.column("first_ts").cast(pa.int64()).to_pylist() == [want[0]]
    assert conn.column("last_ts").cast(pa.int64()).to_pylist() == [want[4]]
    assert conn.schema.field("duration").type == pa.duration("ns")
    assert conn.column("duration").cast(pa.int64()).to_pylist() == [4 * STEP]


def test_pandas_and_polars_get_nanosecond_utc_datetimes(close_frames: tuple[Path, list[int]]) -> None:
    pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    path, want = close_frames
    t = rstlab.read(path)
    df = t.connection(0).segments.to_pandas()
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert df["ts"].astype("int64").tolist() == want
    assert df["ts"].diff().dropna().astype("int64").tolist() == [STEP] * 4
    c = t.connections.to_pandas()
    assert str(c["duration"].dtype) == "timedelta64[ns]" and c["duration"].iloc[0].value == 4 * STEP
    p = t.connection(0).segments.to_polars()
    assert p.schema["ts"] == pl.Datetime("ns", "UTC")
    assert p["ts"].cast(pl.Int64).to_list() == want


def test_text_outputs_keep_every_nanosecond(close_frames: tuple[Path, list[int]], tshark: str) -> None:
    path, want = close_frames
    texts = [rfc3339(ns) for ns in tshark_epochs(tshark, path)]
    assert texts[0] == "2026-12-05T21:00:00.500000000Z" and texts[1] == "2026-12-05T21:00:00.500000100Z"
    run = lambda *a: subprocess.run([sys.executable, "-m", "rstlab", "classify", str(path), *a],
                                    capture_output=True, text=True, check=True).stdout
    doc = json.loads(run("--format", "json"))
    assert doc["resets"][0]["ts"] == texts[4]
    assert doc["connections"][0]["first_ts"] == texts[0]
    assert doc["connections"][0]["duration"] == 4 * STEP
    lines = [json.loads(x) for x in run("--format", "jsonl", "--table", "resets").splitlines()]
    assert [x["ts"] for x in lines] == [texts[4]]
    rows = list(csv.DictReader(io.StringIO(run("--format", "csv"))))
    assert (rows[0]["first_ts"], rows[0]["last_ts"], rows[0]["duration"]) == (texts[0], texts[4], str(4 * STEP))
    # And the Arrow-level conversion those use, on the segments (every frame).
    got = plain(rstlab.read(path).connection(0).segments.to_arrow()).column("ts").to_pylist()
    assert got == texts and sorted(got) == got and len(set(got)) == 5
