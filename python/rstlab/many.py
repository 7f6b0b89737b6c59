"""Many captures at once: ``rstlab.read_many(paths)`` → :class:`Captures`, the tables of every
capture stacked, each row led by the ``capture`` it comes from.

Captures are read on a pool of threads: the Rust pass releases the GIL for the whole file, and
its tables come back as Arrow memory, so a thread hands them over without a copy (a process
would have to serialise them back). ``bench/many.py`` measures what a second worker buys.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal

from .errors import TraceFormatError
from .rows import CaptureConnectionRow, CaptureError, CaptureResetRow, CaptureSegmentRow, CaptureZeekConnRow
from .table import Table

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_many", "Captures", "expand_paths", "CAPTURE_SUFFIXES"]

#: File name endings taken as captures when a directory is given.
CAPTURE_SUFFIXES: tuple[str, ...] = (".pcap", ".pcapng", ".cap")

#: The tables a pass gives, in the order :class:`Captures` lists them.
TABLES: tuple[str, ...] = ("connections", "resets", "zeek_conns")

PathsArg = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
ProgressArg = bool | Callable[[int, int], object] | None


def expand_paths(paths: PathsArg) -> list[str]:
    """The capture files ``paths`` names, in a stable order: a file as given; a directory, every
    capture under it (:data:`CAPTURE_SUFFIXES`, recursively, sorted); a glob pattern
    (``*``, ``?``, ``[``; ``**`` recurses), its matches sorted. A list is expanded item by item,
    keeping its order. A name that is none of these is kept, so reading it says why it fails."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out: list[str] = []
    for item in items:
        p = os.fspath(item)
        if os.path.isdir(p):
            out += sorted(os.path.join(d, f) for d, _, files in os.walk(p) for f in files
                          if f.endswith(CAPTURE_SUFFIXES))
        elif glob.has_magic(p):
            out += sorted(m for m in glob.glob(p, recursive=True) if os.path.isfile(m))
        else:
            out.append(p)
    return out


@dataclass
class _One:
    """One capture's pass: its Arrow tables (``capture`` column already in front)."""

    path: str
    tables: dict[str, pa.Table] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    error: BaseException | None = None


def with_capture(table: pa.Table, capture: str) -> pa.Table:
    """``table`` with a leading ``capture`` column holding ``capture`` on every row."""
    import pyarrow as pa

    col = pa.nulls(table.num_rows, pa.string()).fill_null(capture)
    out: pa.Table = table.add_column(0, pa.field("capture", pa.string(), nullable=False), col)
    return out


def read_one(path: str, *, capture: str | None = None, segments: bool = False, verify_checksums: bool = False,
             zeek_checksums: bool = False, zeek_bare: bool = False) -> _One:
    """One pass over ``path`` (in the calling thread, GIL released while Rust reads): its tables
    with the ``capture`` column (``capture``, default ``path``), and the error that stopped it
    early, if any (not raised)."""
    import pyarrow as pa

    from . import _rstlab

    one = _One(path)
    try:
        res = _rstlab.analyze_file(path, verify_checksums=verify_checksums or zeek_checksums,
                                   zeek_drop_bad_checksums=zeek_checksums, zeek_bare=zeek_bare,
                                   segments="all" if segments else None, progress=None)
    except (OSError, ValueError) as e:  # missing, unreadable, not a capture at all
        one.error = e
        return one
    names = TABLES + (("segments",) if segments else ())
    for name in names:
        one.tables[name] = with_capture(pa.table(getattr(res, name)), path if capture is None else capture)
    one.counts = dict(res.counts)
    one.error = res.error
    return one


class Captures:
    """The tables of many captures, each row led by its ``capture`` (the path as given).

    ``connections``, ``resets``, ``zeek_conns`` (and ``segments`` when asked for) are the tables
    :class:`rstlab.Trace` has, stacked in the order of :attr:`paths`; ``errors`` lists the
    captures that could not be read whole (``errors="keep"``); ``counts`` maps each capture to
    its frame and segment counts.
    """

    def __init__(self, paths: list[str], tables: dict[str, pa.Table], counts: dict[str, dict[str, int]],
                 errors: list[CaptureError]) -> None:
        self.paths: list[str] = paths
        self.connections: Table[CaptureConnectionRow] = Table.from_arrow(tables["connections"], "connections")
        self.resets: Table[CaptureResetRow] = Table.from_arrow(tables["resets"], "resets")
        self.zeek_conns: Table[CaptureZeekConnRow] = Table.from_arrow(tables["zeek_conns"], "zeek_conns")
        seg = tables.get("segments")
        self._segments: Table[CaptureSegmentRow] | None = (
            None if seg is None else Table.from_arrow(seg, "segments"))
        self.counts: dict[str, dict[str, int]] = counts
        #: One entry per capture read in part or not at all: ``capture``, ``error`` (the exception
        #: class), ``message``, ``offset`` (byte offset of the damage, when known).
        self.errors: list[CaptureError] = errors

    @property
    def segments(self) -> Table[CaptureSegmentRow]:
        """Every TCP segment of every capture (only with ``read_many(..., segments=True)``)."""
        if self._segments is None:
            raise AttributeError("segments were not read: pass segments=True to read_many")
        return self._segments

    def errors_table(self) -> Table[CaptureError]:
        """:attr:`errors` as a table (``capture``, ``error``, ``message``, ``offset``)."""
        import pyarrow as pa

        schema = pa.schema([("capture", pa.string()), ("error", pa.string()), ("message", pa.string()),
                            ("offset", pa.uint64())])
        return Table.from_arrow(pa.Table.from_pylist(list(self.errors), schema=schema), "errors")

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return (f"<rstlab.Captures: {len(self.paths)} captures, {len(self.connections)} connections, "
                f"{len(self.resets)} resets{f', {len(self.errors)} with errors' if self.errors else ''}>")


def error_row(path: str, e: BaseException) -> CaptureError:
    """How :attr:`Captures.errors` reports ``e``, the error of capture ``path``."""
    offset = e.offset if isinstance(e, TraceFormatError) else None
    return {"capture": path, "error": type(e).__name__, "message": str(e), "offset": offset}


class _FileBar:
    """Progress over files: ``tqdm.auto`` when installed, else a plain bar on a terminal."""

    def __init__(self, arg: ProgressArg, total: int) -> None:
        self.cb: Callable[[int, int], object] | None = arg if callable(arg) else None
        self.bar: Any = None
        self.total = total
        self.done = 0
        if arg is True:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                from .trace import _Bar

                self.cb = _Bar("captures")
            else:
                self.bar = tqdm(total=total, desc="captures", unit="file", leave=True)

    def step(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.cb is not None:
            self.cb(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.cb is not None and hasattr(self.cb, "close"):
            self.cb.close()


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map_captures(fn: Callable[[str], Any], paths: Sequence[str], workers: int | None,
                 progress: ProgressArg = None, *, stop_on: Callable[[Any], BaseException | None] | None = None
                 ) -> list[Any]:
    """``fn(path)`` for every path on ``workers`` threads, results in the order of ``paths``.
    ``stop_on(result)`` returning an exception ends the run early: the files after it are not
    started, and the error of the first failing file in path order is raised."""
    n = max(1, min(workers or default_workers(), len(paths) or 1))
    bar = _FileBar(progress, len(paths))
    results: list[Any] = [None] * len(paths)
    try:
        if n == 1:
            for i, p in enumerate(paths):
                results[i] = fn(p)
                bar.step()
                err = stop_on(results[i]) if stop_on else None
                if err is not None:
                    raise err
            return results
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="rstlab") as ex:
            try:
                return _gather(ex, fn, paths, results, bar, stop_on)
            except BaseException:
                # Ctrl-C or a failed capture: the files not yet started are not read.
                ex.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        bar.close()


def _gather(ex: ThreadPoolExecutor, fn: Callable[[str], Any], paths: Sequence[str], results: list[Any],
            bar: _FileBar, stop_on: Callable[[Any], BaseException | None] | None) -> list[Any]:
    """Run ``fn`` over ``paths`` on ``ex``, results in path order (see :func:`map_captures`)."""
    futures: dict[Future[Any], int] = {ex.submit(fn, p): i for i, p in enumerate(paths)}
    pending = set(futures)
    first: tuple[int, BaseException] | None = None
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for f in done:
            i = futures[f]
            results[i] = f.result()
            bar.step()
            err = stop_on(results[i]) if stop_on else None
            if err is not None and (first is None or i < first[0]):
                first = (i, err)
        if first is not None:
            # Only the files before the failed one can still change which error is raised.
            for f in pending:
                if futures[f] > first[0]:
                    f.cancel()
            pending = {f for f in pending if futures[f] < first[0]}
    if first is not None:
        raise first[1]
    return results


def read_many(paths: PathsArg, *, workers: int | None = None, errors: Literal["raise", "keep"] = "raise",
              progress: ProgressArg = None, segments: bool = False, verify_checksums: bool = False,
              zeek_checksums: bool = False, zeek_bare: bool = False) -> Captures:
    """Read many captures at once: the tables of :func:`rstlab.read`, stacked, with a leading
    ``capture`` column (the path as given).

    - ``paths``: a file, a directory (every capture under it), a glob pattern, or a list of these
      (see :func:`expand_paths`).
    - ``workers``: captures read at a time, on threads (default: every core this process may use).
    - ``errors``: ``"raise"`` (default) raises the first capture's error, in path order, as
      :func:`rstlab.read` would (a damaged file's :class:`TraceFormatError`, a missing file's
      :class:`OSError`); ``"keep"`` keeps what could be read (a damaged capture's rows up to the
      damage) and lists every failure in :attr:`Captures.errors`.
    - ``progress``: ``True`` for a bar over files (``tqdm.auto`` when installed), or
      ``callback(files_done, files_total)``.
    - ``segments``: also read every segment (:attr:`Captures.segments`), in the same pass.
    - ``verify_checksums``, ``zeek_checksums``, ``zeek_bare``: as for :func:`rstlab.read`.
    """
    if errors not in ("raise", "keep"):
        raise ValueError("errors must be 'raise' or 'keep'")
    files = expand_paths(paths)

    def one(p: str) -> _One:
        return read_one(p, segments=segments, verify_checksums=verify_checksums,
                        zeek_checksums=zeek_checksums, zeek_bare=zeek_bare)

    def fatal(o: _One) -> BaseException | None:
        return o.error if errors == "raise" and o.error is not None and not isinstance(o.error, KeyboardInterrupt) \
            else None

    results: list[_One] = map_captures(one, files, workers, progress, stop_on=fatal)
    for r in results:
        if isinstance(r.error, KeyboardInterrupt):
            raise r.error
    names = TABLES + (("segments",) if segments else ())
    tables: dict[str, pa.Table] = {}
    for name in names:
        parts = [r.tables[name] for r in results if name in r.tables]
        tables[name] = concat(parts) if parts else empty_table(name)
    return Captures(files, tables, {r.path: r.counts for r in results if r.counts},
                    [error_row(r.path, r.error) for r in results if r.error is not None])


def concat(parts: list[pa.Table]) -> pa.Table:
    """``parts`` (one table of several captures) as one table. The passes agree on every
    column's type but not always on its nullability (a pass that read no row of a table marks
    some columns nullable that another marks not): a column is nullable if it is in any part."""
    import pyarrow as pa

    first = parts[0].schema
    nullable = {f.name for p in parts for f in p.schema if f.nullable}
    unified = pa.schema([f.with_nullable(f.name in nullable) for f in first])
    out: pa.Table = pa.concat_tables([p if p.schema == unified else p.cast(unified) for p in parts])
    return out


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type named as ``str(pa_type)`` prints it (how :func:`rstlab.table.columns`
    declares each column's type)."""
    import pyarrow as pa

    if name.startswith("dictionary<"):
        fields = dict(kv.split("=", 1) for kv in name[len("dictionary<"):-1].split(", "))
        t: pa.DataType = pa.dictionary(arrow_type(fields["indices"]), arrow_type(fields["values"]),
                                       ordered=fields.get("ordered") == "1")
        return t
    if name.startswith("list<") and ": " in name:  # list<item: string>
        item, inner = name[len("list<"):-1].split(": ", 1)
        lt: pa.DataType = pa.list_(pa.field(item, arrow_type(inner)))
        return lt
    if name.startswith("timestamp[") and ", tz=" in name:  # timestamp[ns, tz=UTC]
        unit, tz = name[len("timestamp["):-1].split(", tz=")
        ts: pa.DataType = pa.timestamp(unit, tz=tz)
        return ts
    return pa.type_for_alias(name)


def schema(table: str) -> pa.Schema:
    """The Arrow schema of ``table`` with its leading ``capture`` column, from the columns the
    Rust side declares (nothing is read)."""
    import pyarrow as pa

    from .table import columns

    fields = [pa.field("capture", pa.string(), nullable=False)]
    fields += [pa.field(c, arrow_type(t)) for tb, c, t, _ in columns() if tb == table]
    if len(fields) == 1:
        raise ValueError(f"no table {table!r}")
    s: pa.Schema = pa.schema(fields)
    return s


def empty_table(table: str) -> pa.Table:
    """An empty ``table`` with its ``capture`` column."""
    t: pa.Table = schema(table).empty_table()
    return t
