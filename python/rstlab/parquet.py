"""Captures as a Parquet dataset: ``rstlab classify PATHS… --format parquet -o DIR``, or
:func:`write_dataset` from Python.

The dataset is Hive-partitioned, one partition per capture, named by the SHA-256 of the
capture's bytes (what ``sha256sum`` prints)::

    DIR/resets/capture=<sha256>/part-0.parquet
    DIR/connections/capture=<sha256>/part-0.parquet
    DIR/zeek_conns/capture=<sha256>/part-0.parquet
    DIR/captures/capture=<sha256>/part-0.parquet     the manifest row: path, size, counts, error

The partition name is the record of what has been written: a capture whose hash already has its
``captures`` partition is skipped, so a nightly run over a growing store reads only new or
changed files (every file is still hashed, a sequential read). The ``captures`` partition is
written last, after the tables, each file by an atomic rename: an interrupted run leaves no
capture half-recorded. When a path given again now has other contents, its old partitions are
removed (unless another path given has those contents), so the dataset follows the files.

Readers add the ``capture`` column from the directory names (``pl.scan_parquet(DIR +
"/resets/**/*.parquet", hive_partitioning=True)``, DuckDB's ``read_parquet(...,
hive_partitioning = true)``); join ``captures`` on it for the file's path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .many import PathsArg, ProgressArg, TABLES, error_row, expand_paths, map_captures, read_one, schema

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["write_dataset", "Written", "content_hash", "MANIFEST"]

#: The table whose partitions record the captures written (and from which file).
MANIFEST = "captures"
PART = "part-0.parquet"


@dataclass
class Written:
    """What :func:`write_dataset` did with one capture: ``status`` is ``"written"``,
    ``"skipped"`` (its contents were already in the dataset) or ``"failed"`` (not readable at
    all: nothing written); ``error`` is the message of a failure or of damage (a damaged
    capture's rows up to the damage are written, and the manifest keeps the message)."""

    path: str
    capture: str | None
    status: Literal["written", "skipped", "failed"]
    error: str | None = None


def content_hash(path: str) -> str:
    """The SHA-256 of the file's bytes, in hex (the partition name)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _manifest_schema() -> pa.Schema:
    import pyarrow as pa

    s: pa.Schema = pa.schema([("path", pa.string()), ("size", pa.uint64()), ("frames", pa.uint64()),
                              ("tcp", pa.uint64()), ("connections", pa.uint64()), ("resets", pa.uint64()),
                              ("error", pa.string()), ("offset", pa.uint64()), ("rstlab", pa.string()),
                              ("written_at", pa.timestamp("s", tz="UTC"))])
    return s


def _write(table: pa.Table, out: str, name: str, capture: str) -> None:
    import pyarrow.parquet as pq

    d = os.path.join(out, name, f"capture={capture}")
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, f".{PART}.{os.getpid()}.{threading.get_ident()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, os.path.join(d, PART))


def _recorded(out: str) -> dict[str, tuple[str, str | None]]:
    """Captures already in the dataset: hash → (path it was read from, its error if damaged)."""
    import pyarrow.parquet as pq

    base = os.path.join(out, MANIFEST)
    seen: dict[str, tuple[str, str | None]] = {}
    if not os.path.isdir(base):
        return seen
    for d in os.listdir(base):
        f = os.path.join(base, d, PART)
        if d.startswith("capture=") and os.path.isfile(f):
            row = pq.read_table(f, columns=["path", "error"]).to_pylist()[0]
            seen[d[len("capture="):]] = (row["path"], row["error"])
    return seen


def write_dataset(paths: PathsArg | Iterable[str], out: str | os.PathLike[str], *, jobs: int | None = None,
                  progress: ProgressArg = None, verify_checksums: bool = False) -> list[Written]:
    """Write the tables of every capture in ``paths`` (files, directories, globs, as
    :func:`rstlab.read_many` takes them) under ``out`` as a Hive-partitioned Parquet dataset,
    skipping captures already there (see the module's description); ``jobs`` captures at a time
    (default: every core). Returns one :class:`Written` per capture, in path order."""
    import pyarrow as pa

    from . import __version__

    root = os.fspath(out)
    files = expand_paths(paths)
    before = _recorded(root)
    schemas = {t: pa.schema(list(schema(t))[1:]) for t in TABLES}
    # Two paths with the same contents in one run: the first to hash it writes it.
    claimed: set[str] = set()
    lock = threading.Lock()

    def one(path: str) -> Written:
        try:
            digest = content_hash(path)
        except OSError as e:
            return Written(path, None, "failed", str(e))
        if digest in before:
            return Written(path, digest, "skipped", before[digest][1])
        with lock:
            if digest in claimed:
                return Written(path, digest, "skipped")
            claimed.add(digest)
        r = read_one(path, verify_checksums=verify_checksums)
        if not r.tables:
            return Written(path, digest, "failed", str(r.error))
        if isinstance(r.error, KeyboardInterrupt):
            raise r.error
        for t in TABLES:
            # Every file of a table gets the same schema (the declared one; the capture is the
            # partition): readers need not reconcile them.
            _write(r.tables[t].drop_columns(["capture"]).cast(schemas[t]), root, t, digest)
        err = error_row(path, r.error) if r.error is not None else None
        row = {"path": path, "size": os.path.getsize(path), "frames": r.counts.get("frames", 0),
               "tcp": r.counts.get("tcp", 0), "connections": r.tables["connections"].num_rows,
               "resets": r.tables["resets"].num_rows, "error": err["message"] if err else None,
               "offset": err["offset"] if err else None, "rstlab": __version__,
               "written_at": int(time.time())}
        _write(pa.Table.from_pylist([row], schema=_manifest_schema()), root, MANIFEST, digest)
        return Written(path, digest, "written", row["error"])

    done: list[Written] = map_captures(one, files, jobs, progress)
    # A path now holding other contents: drop what its old contents wrote.
    now = {w.capture for w in done if w.capture}
    given = {w.path for w in done}
    for digest, (path, _) in before.items():
        if path in given and digest not in now:
            for t in (*TABLES, MANIFEST):
                shutil.rmtree(os.path.join(root, t, f"capture={digest}"), ignore_errors=True)
    return done
