"""rstlab.read_many (issue #15 item 2): many captures on a thread pool, a leading ``capture``
column. Expected values: tshark's RSTs per public capture (REFERENCE_tshark_rst.tsv), and
``rstlab.read`` file by file for the full tables."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

import rstlab
from rstlab.many import expand_paths

from conftest import all_captures


def _tshark_rsts(traces: Path) -> set[tuple[str, int]]:
    with open(traces / "REFERENCE_tshark_rst.tsv", newline="") as f:
        return {(r["file"], int(r["frame"])) for r in csv.DictReader(f, delimiter="\t")}


@pytest.mark.parametrize("workers", [1, 2])
def test_every_rst_of_the_public_traces_with_its_capture(traces: Path, workers: int) -> None:
    many = rstlab.read_many(traces, workers=workers)
    assert sorted(many.paths) == sorted(str(p) for p in all_captures(traces))
    got = {(str(Path(c).relative_to(traces)), f) for c, f in zip(many.resets["capture"], many.resets["frame"])}
    assert got == _tshark_rsts(traces)
    assert many.errors == []


def test_tables_are_read_file_by_file_stacked(traces: Path) -> None:
    paths = [traces / "zeek/tcp/rst-inject-rae.pcap", traces / "chrissanders-packets/synscan.pcapng"]
    many = rstlab.read_many(paths, workers=2)
    for table in ("connections", "resets", "zeek_conns"):
        got = getattr(many, table).to_arrow()
        assert got.column_names[0] == "capture"
        for p in paths:
            one = getattr(rstlab.read(p), table).to_arrow()
            mine = got.filter([c == str(p) for c in got.column("capture").to_pylist()])
            assert mine.drop_columns(["capture"]).to_pylist() == one.to_pylist()


def test_segments_in_the_same_pass(traces: Path) -> None:
    p = traces / "zeek/tcp/rst-inject-rae.pcap"
    many = rstlab.read_many([p], segments=True)
    assert many.segments.to_arrow().drop_columns(["capture"]).to_pylist() == rstlab.read(p).segments.to_pylist()
    with pytest.raises(AttributeError):
        rstlab.read_many([p]).segments


def test_directory_glob_and_list(tmp_path: Path, traces: Path) -> None:
    src = traces / "chrissanders-packets"
    for f in ("synscan.pcapng", "nowebaccess2.pcapng"):
        shutil.copy(src / f, tmp_path / f)
    (tmp_path / "sub").mkdir()
    shutil.copy(src / "tcp_refuseconnection.pcapng", tmp_path / "sub" / "r.pcapng")
    (tmp_path / "notes.txt").write_text("not a capture")
    assert expand_paths(tmp_path) == [str(tmp_path / "nowebaccess2.pcapng"), str(tmp_path / "sub/r.pcapng"),
                                      str(tmp_path / "synscan.pcapng")]
    assert expand_paths(str(tmp_path / "*.pcapng")) == [str(tmp_path / "nowebaccess2.pcapng"),
                                                        str(tmp_path / "synscan.pcapng")]
    assert expand_paths([tmp_path / "synscan.pcapng", str(tmp_path / "sub")]) == [
        str(tmp_path / "synscan.pcapng"), str(tmp_path / "sub/r.pcapng")]
    # MANIFEST: 5 + 3 + 1 RSTs.
    assert len(rstlab.read_many(tmp_path).resets) == 9


def test_bad_files_raise_or_are_kept(tmp_path: Path, traces: Path) -> None:
    good = traces / "chrissanders-packets/synscan.pcapng"
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all")
    src = (traces / "zeek/tcp/rst-inject-rae.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    # A pcap file is a 24-byte header then records of a 16-byte header and the packet (pcap
    # format, draft-ietf-opsawg-pcap §4-5): keep the first record whole and half the second.
    first_len = int.from_bytes(src[24 + 8:24 + 12], "little")
    second = 24 + 16 + first_len
    cut.write_bytes(src[:second + 10])
    missing = tmp_path / "missing.pcap"
    paths = [good, junk, cut, missing]
    with pytest.raises(rstlab.TraceFormatError) as e:
        rstlab.read_many(paths, workers=2)
    assert e.value.path == str(junk) and e.value.offset == 0
    many = rstlab.read_many(paths, errors="keep", workers=2)
    errs = {e["capture"]: e for e in many.errors}
    assert set(errs) == {str(junk), str(cut), str(missing)}
    assert errs[str(junk)]["offset"] == 0 and errs[str(junk)]["error"] == "TraceFormatError"
    assert errs[str(cut)]["offset"] == second
    assert errs[str(missing)]["error"] == "FileNotFoundError" and errs[str(missing)]["offset"] is None
    # The damaged capture keeps its first frame; the good one all its rows (MANIFEST: 5 RSTs).
    caps = many.connections["capture"]
    assert caps.count(str(cut)) == 1 and len(many.resets) == 5
    assert len(many.errors_table()) == 3


def test_progress_over_files(traces: Path) -> None:
    seen: list[tuple[int, int]] = []
    rstlab.read_many(traces / "chrissanders-packets", progress=lambda d, t: seen.append((d, t)), workers=2)
    assert seen == [(i, 5) for i in range(1, 6)]


def test_bad_errors_argument() -> None:
    with pytest.raises(ValueError):
        rstlab.read_many([], errors="ignore")  # type: ignore[arg-type]
