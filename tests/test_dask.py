"""rstlab.dask (issue #15 item 3, acceptance 3): one partition per capture on a LocalCluster of
two worker processes gives exactly the rows ``rstlab.read`` gives file by file; a URL is read
through fsspec."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import rstlab

from conftest import all_captures

dd = pytest.importorskip("dask.dataframe", reason="needs rstlab[dask] (make python-deps installs it)")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

import rstlab.dask as rdask  # noqa: E402

SORT = {"resets": ["capture", "frame"], "connections": ["capture", "conn_id"]}


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address="127.0.0.1:0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as c:
        yield c


def _expected(path: str, table: str) -> "pd.DataFrame":
    frame = getattr(rstlab.read(path), table).to_pandas()
    frame.insert(0, "capture", pd.Series([path] * len(frame), dtype=pd.ArrowDtype(__import__("pyarrow").string())))
    return frame


def _same(got: "pd.DataFrame", want: "pd.DataFrame", table: str) -> None:
    pd.testing.assert_frame_equal(got.sort_values(SORT[table]).reset_index(drop=True),
                                  want.sort_values(SORT[table]).reset_index(drop=True), check_dtype=True,
                                  check_categorical=True)


def test_read_resets_on_a_cluster_equals_read_file_by_file(client: object, traces: Path) -> None:
    paths = [str(p) for p in all_captures(traces)]
    frame = rdask.read_resets(traces)
    assert frame.npartitions == len(paths)
    # One task per capture: each partition is one file's rows, compared with rstlab.read's.
    parts = client.compute(frame.to_delayed(), sync=True)  # type: ignore[attr-defined]
    got = {p["capture"].iloc[0]: p for p in parts if len(p)}
    want = {p: _expected(p, "resets") for p in paths}
    assert set(got) == {p for p, w in want.items() if len(w)}
    for p, w in want.items():
        if len(w):
            _same(got[p], w, "resets")
    # The whole frame: every row once, the meta's dtypes on every column.
    whole = frame.compute()
    assert len(whole) == sum(len(w) for w in want.values())
    assert list(whole.columns) == list(frame.columns)
    for col, meta in frame.dtypes.items():
        # Categoricals of different captures are unioned: same kind, more categories.
        assert (whole[col].dtype == meta) or (isinstance(meta, pd.CategoricalDtype)
                                              and isinstance(whole[col].dtype, pd.CategoricalDtype)), col


def test_meta_needs_no_read(tmp_path: Path) -> None:
    # Building the frame reads nothing: a capture that does not exist fails only when computed.
    frame = rdask.read_connections([str(tmp_path / "later.pcap")])
    assert list(frame.columns)[:2] == ["capture", "conn_id"]
    with pytest.raises(FileNotFoundError):
        frame.compute(scheduler="sync")


def test_connections_and_zeek_conns_partitions(client: object, traces: Path) -> None:
    paths = [str(traces / "zeek/tcp/rst-inject-rae.pcap"), str(traces / "chrissanders-packets/synscan.pcapng")]
    parts = client.compute(rdask.read_connections(paths).to_delayed(), sync=True)  # type: ignore[attr-defined]
    for p, part in zip(paths, parts):
        _same(part, _expected(p, "connections"), "connections")
    z = rdask.read_zeek_conns(paths)
    assert z.npartitions == 2 and len(z.compute()) == sum(len(rstlab.read(p).zeek_conns) for p in paths)


def test_a_url_is_read_through_fsspec(traces: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    src = traces / "chrissanders-packets/synscan.pcapng"
    mem = fsspec.filesystem("memory")
    mem.pipe("/rstlab-test/a/synscan.pcapng", src.read_bytes())
    try:
        # memory:// lives in this process: the synchronous scheduler runs the tasks here.
        got = rdask.read_resets("memory://rstlab-test/a/*.pcapng").compute(scheduler="sync")
        want = _expected(str(src), "resets")
        want["capture"] = pd.Series(["memory:///rstlab-test/a/synscan.pcapng"] * len(want),
                                    dtype=want["capture"].dtype)
        _same(got, want, "resets")
        assert len(got) == 5  # MANIFEST: 5 RSTs
    finally:
        mem.rm("/rstlab-test", recursive=True)


def test_a_file_url_is_a_local_path(traces: Path) -> None:
    src = traces / "chrissanders-packets/synscan.pcapng"
    assert rdask.capture_paths(f"file://{src}") == [str(src)]
