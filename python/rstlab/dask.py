"""Captures on a Dask cluster: ``rstlab.dask.read_resets(paths)`` (and ``read_connections``,
``read_zeek_conns``) → a ``dask.dataframe`` with one partition per capture.

Needs ``pip install rstlab[dask]`` (dask[dataframe], distributed, fsspec). Works with whatever
scheduler is current — a ``dask.distributed.Client`` of a ``LocalCluster`` or of a real cluster —
since each partition is one task that reads one capture where it runs.

The frame's ``meta`` (column names and dtypes) comes from the columns the Rust side declares
(:func:`rstlab.table.columns`), so building the frame reads no capture. Its dtypes are those of
``Table.to_pandas()``: pyarrow-backed columns, categoricals for the dictionary ones, and a
leading ``capture`` column (the path or URL as given). The categoricals' meta holds no
categories; each partition brings its own and ``compute()`` unions them.

A path with a protocol other than ``file://`` (``s3://``, ``gs://``, ``memory://``, …) is opened
through fsspec on the worker and copied to a temporary file there (the Rust reader takes a file,
not a stream); ``storage_options`` go to fsspec. A glob in a URL is expanded by fsspec, a local
glob or directory as :func:`rstlab.many.expand_paths` does, on the client.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .many import PathsArg, empty_table, expand_paths, read_one
from .table import Table

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

__all__ = ["read_resets", "read_connections", "read_zeek_conns", "capture_paths"]


def _protocol(path: str) -> str | None:
    head, sep, _ = path.partition("://")
    return head if sep and head.isidentifier() else None


def _is_remote(path: str) -> bool:
    return _protocol(path) not in (None, "file")


def capture_paths(paths: PathsArg, storage_options: dict[str, Any] | None = None) -> list[str]:
    """The captures ``paths`` names, one partition each: URLs expanded through fsspec (globs,
    directories), local names through :func:`rstlab.many.expand_paths`; ``file://`` URLs become
    local paths."""
    items = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else [os.fspath(p) for p in paths]
    out: list[str] = []
    for item in items:
        if not _is_remote(item):
            out += expand_paths(item[len("file://"):] if _protocol(item) == "file" else item)
            continue
        import fsspec

        fs, _, found = fsspec.core.get_fs_token_paths(item, storage_options=storage_options)
        for p in sorted(found):
            if fs.isdir(p):
                out += sorted(fs.unstrip_protocol(f) for f in fs.find(p) if f.endswith((".pcap", ".pcapng", ".cap")))
            else:
                out.append(fs.unstrip_protocol(p))
    return out


class _Partition:
    """Reads one capture into one partition (a picklable callable, run on the worker)."""

    def __init__(self, table: str, storage_options: dict[str, Any] | None, options: dict[str, bool]) -> None:
        self.table = table
        self.storage_options = storage_options or {}
        self.options = options

    def __call__(self, path: str) -> pd.DataFrame:
        if _is_remote(path):
            return self._remote(path)
        return self._frame(path, path)

    def _frame(self, local: str, capture: str) -> pd.DataFrame:
        one = read_one(local, capture=capture, **self.options)
        if one.error is not None:
            raise one.error
        return Table.from_arrow(one.tables[self.table], self.table).to_pandas()

    def _remote(self, url: str) -> pd.DataFrame:
        import fsspec

        # The Rust reader takes a file: copy the object to local disk on this worker, once.
        suffix = os.path.splitext(url)[1]
        fd, local = tempfile.mkstemp(prefix="rstlab-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as dst, fsspec.open(url, "rb", **self.storage_options) as src:
                shutil.copyfileobj(src, dst, 4 << 20)
            return self._frame(local, url)
        finally:
            os.unlink(local)


def _read(table: str, paths: PathsArg | Iterable[str], storage_options: dict[str, Any] | None,
          options: dict[str, bool]) -> dd.DataFrame:
    import dask.dataframe as dd

    files = capture_paths(paths, storage_options)
    if not files:
        raise FileNotFoundError(f"no capture in {paths!r}")
    meta = Table.from_arrow(empty_table(table), table).to_pandas()
    # dask.dataframe.from_map carries no annotations.
    from_map: Any = dd.from_map
    frame: dd.DataFrame = from_map(_Partition(table, storage_options, options), files, meta=meta,
                                      label=f"rstlab-{table.replace('_', '-')}", enforce_metadata=False)
    return frame


def read_resets(paths: PathsArg, *, storage_options: dict[str, Any] | None = None, verify_checksums: bool = False,
                zeek_checksums: bool = False, zeek_bare: bool = False) -> dd.DataFrame:
    """One row per RST of every capture (``Trace.resets`` with a leading ``capture``), one
    partition per capture. ``paths``: files, directories, globs or URLs (a list of them too);
    ``storage_options`` go to fsspec for URLs; the other options are :func:`rstlab.read`'s.
    A capture that cannot be read whole fails its task with the error :func:`rstlab.read`
    raises."""
    return _read("resets", paths, storage_options, dict(verify_checksums=verify_checksums,
                                                        zeek_checksums=zeek_checksums, zeek_bare=zeek_bare))


def read_connections(paths: PathsArg, *, storage_options: dict[str, Any] | None = None,
                     verify_checksums: bool = False, zeek_checksums: bool = False,
                     zeek_bare: bool = False) -> dd.DataFrame:
    """One row per connection of every capture (``Trace.connections`` with a leading
    ``capture``), one partition per capture; arguments as :func:`read_resets`."""
    return _read("connections", paths, storage_options, dict(verify_checksums=verify_checksums,
                                                             zeek_checksums=zeek_checksums, zeek_bare=zeek_bare))


def read_zeek_conns(paths: PathsArg, *, storage_options: dict[str, Any] | None = None,
                    verify_checksums: bool = False, zeek_checksums: bool = False,
                    zeek_bare: bool = False) -> dd.DataFrame:
    """Connections as Zeek's conn.log splits them (``Trace.zeek_conns`` with a leading
    ``capture``), one partition per capture; arguments as :func:`read_resets`."""
    return _read("zeek_conns", paths, storage_options, dict(verify_checksums=verify_checksums,
                                                            zeek_checksums=zeek_checksums, zeek_bare=zeek_bare))
