"""``rstlab classify --format parquet`` (issue #15 item 4, acceptance 4): a Hive-partitioned
dataset, a partition per capture named by its SHA-256 (checked with ``sha256sum``), incremental,
and read back by polars with the ``capture`` column."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rstlab

SRC = ("chrissanders-packets/synscan.pcapng", "chrissanders-packets/nowebaccess2.pcapng",
       "zeek/tcp/rst-inject-rae.pcap")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rstlab", *args], capture_output=True, text=True, timeout=600)


def sha256sum(path: Path) -> str:
    return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


def partitions(out: Path, table: str) -> dict[str, float]:
    """capture hash → modification time of its file."""
    return {d.name.split("=", 1)[1]: (d / "part-0.parquet").stat().st_mtime_ns
            for d in (out / table).iterdir() if d.name.startswith("capture=")}


@pytest.fixture
def store(tmp_path: Path, traces: Path) -> Path:
    d = tmp_path / "store"
    d.mkdir()
    for s in SRC:
        shutil.copy(traces / s, d / Path(s).name)
    return d


def test_reruns_skip_unchanged_captures_and_redo_a_changed_one(store: Path, tmp_path: Path, traces: Path) -> None:
    out = tmp_path / "ds"
    p = cli("classify", str(store), "--format", "parquet", "-o", str(out), "--jobs", "2")
    assert p.returncode == 0, p.stderr
    hashes = {f.name: sha256sum(f) for f in store.iterdir()}
    for table in ("resets", "connections", "zeek_conns", "captures"):
        assert set(partitions(out, table)) == set(hashes.values()), table
    first = partitions(out, "resets")
    assert "3 captures written, 0 skipped" in p.stderr

    # Unchanged: nothing rewritten.
    p = cli("classify", str(store), "--format", "parquet", "-o", str(out), "--jobs", "2")
    assert p.returncode == 0 and "0 captures written, 3 skipped" in p.stderr
    assert partitions(out, "resets") == first

    # A new capture and a changed one: only those are read; the changed one's old rows go.
    shutil.copy(traces / "chrissanders-packets/tcp_refuseconnection.pcapng", store / "new.pcapng")
    shutil.copy(traces / "zeek/tcp/syn-then-rst.pcap", store / "rst-inject-rae.pcap")
    p = cli("classify", str(store), "--format", "parquet", "-o", str(out), "-j", "2")
    assert p.returncode == 0 and "2 captures written, 2 skipped" in p.stderr, p.stderr
    now = partitions(out, "resets")
    hashes = {f.name: sha256sum(f) for f in store.iterdir()}
    assert set(now) == set(hashes.values())
    for name in ("synscan.pcapng", "nowebaccess2.pcapng"):
        assert now[hashes[name]] == first[hashes[name]]


def test_polars_reads_the_dataset_with_the_capture_column(store: Path, tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    out = tmp_path / "ds"
    assert cli("classify", str(store), "--format", "parquet", "-o", str(out)).returncode == 0
    resets = pl.scan_parquet(str(out / "resets" / "**" / "*.parquet"), hive_partitioning=True).collect()
    caps = pl.scan_parquet(str(out / "captures" / "**" / "*.parquet"), hive_partitioning=True).collect()
    assert "capture" in resets.columns
    joined = resets.join(caps.select("capture", "path"), on="capture")
    # MANIFEST: synscan 5 RSTs, nowebaccess2 3, rst-inject-rae 3.
    per_file = {Path(k).name: v for k, v in joined.group_by("path").len().iter_rows()}
    assert per_file == {"synscan.pcapng": 5, "nowebaccess2.pcapng": 3, "rst-inject-rae.pcap": 3}
    # The rows are rstlab.read's, capture by capture.
    for f in store.iterdir():
        mine = joined.filter(pl.col("path") == str(f)).drop("capture", "path").sort("frame")
        want = rstlab.read(f).resets.to_polars().sort("frame")
        assert mine.select(want.columns).cast(want.schema).to_dicts() == want.to_dicts()


def test_damaged_and_missing_captures(tmp_path: Path, traces: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture")
    out = tmp_path / "ds"
    good = traces / "chrissanders-packets/synscan.pcapng"
    p = cli("classify", str(good), str(junk), str(tmp_path / "missing.pcap"), "--format", "parquet", "-o", str(out))
    assert p.returncode == 2
    assert "junk.pcap" in p.stderr and "missing.pcap" in p.stderr
    assert "2 captures written, 0 skipped (their contents are there already), 1 failed" in p.stderr


def test_same_contents_twice_are_written_once(tmp_path: Path, traces: Path) -> None:
    src = traces / "chrissanders-packets/synscan.pcapng"
    for name in ("a.pcapng", "b.pcapng"):
        shutil.copy(src, tmp_path / name)
    out = tmp_path / "ds"
    p = cli("classify", str(tmp_path / "a.pcapng"), str(tmp_path / "b.pcapng"), "--format", "parquet",
            "-o", str(out), "-j", "2")
    assert p.returncode == 0 and "1 captures written, 1 skipped" in p.stderr, p.stderr
    assert list(partitions(out, "resets")) == [sha256sum(src)]


def test_parquet_needs_an_output_directory(traces: Path) -> None:
    p = cli("classify", str(traces / "chrissanders-packets/synscan.pcapng"), "--format", "parquet")
    assert p.returncode == 2 and "-o DIR" in p.stderr
