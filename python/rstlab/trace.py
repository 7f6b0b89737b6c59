"""Reading captures: ``rstlab.read(path)`` → :class:`Trace`."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
import os
import sys
from collections.abc import Mapping
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Protocol

from . import _rstlab
from .errors import TraceFormatError
from .rows import ConnectionRow, ResetRow, SegmentRow, ZeekConnRow
from .table import Table

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read", "iter_batches", "Trace", "Connection"]

ProgressArg = bool | Callable[[int, int], object] | None


class _Bar:
    """A plain stderr progress bar (no dependency), drawn only on a terminal: the fallback when
    tqdm is not installed."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not sys.stderr.isatty() or total <= 0:
            return
        frac = min(done / total, 1.0)
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {frac * 100:5.1f}%")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


class _TqdmBar:
    """Progress through ``tqdm.auto`` (``pip install rstlab[progress]``): a text bar on a
    terminal, a widget in Jupyter, in bytes of the file read."""

    def __init__(self, label: str, tqdm: Any) -> None:
        self.label = label
        self.tqdm = tqdm
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = self.tqdm(total=total, desc=self.label, unit="B", unit_scale=True, unit_divisor=1024,
                                 leave=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress(arg: ProgressArg, label: str) -> tuple[Callable[[int, int], object] | None, _Bar | _TqdmBar | None]:
    if arg is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            bar: _Bar | _TqdmBar = _Bar(label)
        else:
            bar = _TqdmBar(label, tqdm)
        return bar, bar
    if callable(arg):
        return arg, None
    return None, None


def _analyze(path: str, *, verify_checksums: bool, zeek_checksums: bool, zeek_bare: bool,
             segments: str | int | None, progress: ProgressArg,
             skip_link_bytes: int | None = None, workers: int | None = 1) -> _rstlab.Analysis:
    cb, bar = _progress(progress, os.path.basename(path))
    try:
        return _rstlab.analyze_file(path, verify_checksums=verify_checksums or zeek_checksums,
                                    zeek_drop_bad_checksums=zeek_checksums, zeek_bare=zeek_bare,
                                    segments=segments,
                                    progress=cb, skip_link_bytes=skip_link_bytes,
                                    workers=_workers(workers))
    finally:
        if bar is not None:
            bar.close()


def _workers(workers: int | None) -> int:
    """``workers=`` as the core takes it: ``None`` is every core (0 there)."""
    if workers is None:
        return 0
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int or None (every core), not {workers!r}")
    return workers


def read(path: str | os.PathLike[str], *, verify_checksums: bool = False,
         zeek_checksums: bool = False, zeek_bare: bool = False, errors: str = "raise",
         progress: ProgressArg = None, skip_link_bytes: int | None = None,
         workers: int | None = None) -> "Trace":
    """Read a pcap / pcapng file and rebuild every TCP connection in it.

    The file is streamed in Rust with the GIL released; memory follows the connections alive at
    once, not the file size.

    - ``verify_checksums``: check TCP checksums (shown per segment; never drops packets).
    - ``zeek_checksums``: behave like Zeek without ``-C``: bad-checksum packets are left out of
      ``conn_state`` / ``history`` and recorded as ``C``.
    - ``zeek_bare``: behave like Zeek run with ``-b`` (no protocol scripts, so no
      ``likely_server_ports`` when choosing roles for connections whose SYN was not seen).
    - ``errors``: ``"raise"`` (default) raises :class:`TraceFormatError` on damage, with the
      partial trace in its ``trace`` attribute; ``"keep"`` returns the partial trace with
      ``trace.error`` set.
    - ``progress``: ``True`` for a progress bar — through ``tqdm.auto`` when tqdm is installed
      (``pip install rstlab[progress]``: a terminal bar, or a widget in Jupyter), else a plain bar
      drawn on a terminal only — or ``callback(bytes_done, bytes_total)``, called every few
      megabytes and once at the end of a clean read (``bytes_done == bytes_total``).
    - ``workers``: threads in all (default ``None``: one per core). With more than one, this
      thread reads and decodes while the others track and classify the connections, each a
      share of the flows; ``1`` does it all on this thread. The tables are identical for any
      number, ``conn_id`` included.
    - ``skip_link_bytes``: Zeek's skip analyzer (``PacketAnalyzer::SKIP::skip_bytes``): frames on
      a link type rstlab does not read are taken as that many bytes of header, then an IP
      packet. By default they are skipped, and ``trace.notes`` says so.
    """
    if errors not in ("raise", "keep"):
        raise ValueError("errors must be 'raise' or 'keep'")
    p = os.fspath(path)
    res = _analyze(p, verify_checksums=verify_checksums, zeek_checksums=zeek_checksums,
                   zeek_bare=zeek_bare, segments=None, progress=progress, skip_link_bytes=skip_link_bytes,
                   workers=workers)
    t = Trace(p, res, verify_checksums=verify_checksums, zeek_checksums=zeek_checksums,
              zeek_bare=zeek_bare, skip_link_bytes=skip_link_bytes)
    err = res.error
    if err is not None:
        if isinstance(err, TraceFormatError):
            err.trace = t
            if errors == "keep":
                t.error = err
                return t
        raise err
    return t


def iter_batches(path: str | os.PathLike[str], *, table: str = "resets", batch_size: int = 65536,
                 verify_checksums: bool = False) -> Iterator[pa.RecordBatch]:
    """One table of a capture (``"resets"`` or ``"connections"``) as ``pyarrow.RecordBatch``es of
    up to ``batch_size`` rows, handed out while Rust reads the file on a thread of its own (the
    GIL released): for captures too big to hold as tables.

    A connection's row, or its RSTs' rows, come once the connection has finished (ended and idle
    5 s of capture time, idle an hour, or at the end of the file), so memory follows the
    connections alive at once, not the file; at most two batches wait for the consumer, which
    paces the reading. Rows come in the order connections finish, not in ``conn_id`` or frame
    order (sort them if order matters). The rows are :func:`read`'s, but a stream the tracker
    retired and that then went on is a row per part here (the same ``conn_id``), one merged row
    there. Damage raises :class:`TraceFormatError` after the batches read before it; leaving the
    loop early stops the reading.
    """
    import pyarrow as pa

    reader = _rstlab.BatchReader(os.fspath(path), table=table, batch_size=batch_size,
                                 verify_checksums=verify_checksums)
    try:
        for part in reader:
            batches: list[pa.RecordBatch] = pa.table(part).to_batches()
            yield from batches
    finally:
        reader.close()


def rst_comment(r: Any) -> str:
    """A RST's packet comment in the pcapng files rstlab writes: cause, confidence, who, how,
    and the evidence (``r`` is a row of the resets table, as a mapping)."""
    return (f"rstlab: {r['cause']} ({r['confidence']:.2f}), {r['sender']} {r['origin']}, {r['phase']}, "
            f"{r['acceptability']}, {r['effect']}: {r['evidence']}")


class TraceSource(Protocol):
    """What a :class:`Trace` reads its tables from: a pass over a file
    (``rstlab._rstlab.Analysis``) or a lab run's capture. Each table is an Arrow PyCapsule
    stream producer (``__arrow_c_stream__``)."""

    @property
    def connections(self) -> object: ...
    @property
    def resets(self) -> object: ...
    @property
    def zeek_conns(self) -> object: ...
    @property
    def counts(self) -> dict[str, int]: ...


class Trace:
    """One analysed capture: tables in bulk, objects for drill-down."""

    def __init__(self, path: str, native: TraceSource, *, verify_checksums: bool = False,
                 zeek_checksums: bool = False, zeek_bare: bool = False,
                 segments: Table[SegmentRow] | None = None, skip_link_bytes: int | None = None) -> None:
        self.path: str = path
        self._native = native
        self._opts = dict(verify_checksums=verify_checksums, zeek_checksums=zeek_checksums,
                          zeek_bare=zeek_bare)
        self._skip_link_bytes = skip_link_bytes
        self.connections: Table[ConnectionRow] = Table(native.connections, "connections")
        self._zeek: Table[ZeekConnRow] | None = None
        #: One row per RST: who sent it, in answer to what, acceptability, effect, cause, evidence.
        self.resets: Table[ResetRow] = Table(native.resets, "resets")
        self.counts: dict[str, int] = dict(native.counts)
        self.error: TraceFormatError | None = None
        #: What the reader skipped and you should know: one sentence per link type rstlab does
        #: not read (how many frames, on which interfaces). Empty when every frame was readable.
        self.notes: list[str] = list(getattr(native, "notes", ()))
        self._segments: Table[SegmentRow] | None = segments

    @property
    def zeek_conns(self) -> Table[ZeekConnRow]:
        """Connections as Zeek's conn.log would split them (its timers and tuple reuse can cut
        one Wireshark stream in several); ``conn_id`` names the stream each belongs to. Built
        on first use: most analyses never read it."""
        if self._zeek is None:
            self._zeek = Table(self._native.zeek_conns, "zeek_conns")
        return self._zeek

    @property
    def segments(self) -> Table[SegmentRow]:
        """Every TCP segment (one row per frame), computed on first use by a second pass."""
        if self._segments is None:
            res = _analyze(self.path, **self._opts, segments="all", progress=None,
                           skip_link_bytes=self._skip_link_bytes)
            self._segments = Table(res.segments, "segments")
        return self._segments

    def connection(self, conn_id: int) -> "Connection":
        """Drill down into one connection (``conn_id`` as in Wireshark's ``tcp.stream``).

        Its segments are read again from the file, but only the frames the connection spans:
        the first pass marked, every 8 MiB, where reading can resume (32 bytes a mark), and the
        file is read from the last mark before the connection's first frame up to its last (a
        pcapng after its section's header and interfaces)."""
        rows = self.connections.filter(conn_id=conn_id).to_pylist()
        if not rows:
            raise KeyError(f"no connection {conn_id} in {self.path}")
        if self._segments is not None:
            segs = self._segments.filter(conn_id=conn_id)
        elif isinstance(self._native, _rstlab.Analysis):
            # Only the frames the connection spans are read again (rstlab_trace::drill).
            r = rows[0]
            segs = Table(self._native.connection_segments(conn_id, r["first_frame"], r["last_frame"]),
                         "segments")
        else:
            res = _analyze(self.path, **self._opts, segments=conn_id, progress=None,
                           skip_link_bytes=self._skip_link_bytes)
            segs = Table(res.segments, "segments")
        return Connection(rows[0], segs, self.resets.filter(conn_id=conn_id), trace=self)

    def write_pcapng(self, path: str | os.PathLike[str]) -> None:
        """Write the capture as pcapng with each RST's cause and evidence as a packet comment
        (Wireshark shows it as ``frame.comment``)."""
        comments = {int(r["frame"]): rst_comment(r) for r in self.resets}
        _rstlab.write_pcapng_with_comments(self.path, os.fspath(path), comments)

    def __len__(self) -> int:
        return len(self.connections)

    def __repr__(self) -> str:
        c = self.counts
        return (f"<rstlab.Trace {os.path.basename(self.path)!r}: {len(self.connections)} connections, "
                f"{len(self.resets)} resets, {c.get('tcp', 0)} TCP segments of {c.get('frames', 0)} frames"
                f"{', damaged' if self.error else ''}>")

    def cause_counts(self) -> dict[str, int]:
        """How many RSTs of each cause, most frequent first."""
        counts: dict[str, int] = {}
        for cause in self.resets["cause"]:
            counts[cause] = counts.get(cause, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def _repr_html_(self) -> str:
        c = self.counts
        ends: dict[str, int] = {}
        for e in self.connections["end_reason"]:
            ends[e] = ends.get(e, 0) + 1
        summary = [
            ("file", self.path),
            ("frames", f"{c.get('frames', 0)} ({c.get('tcp', 0)} TCP segments)"),
            ("connections", str(len(self.connections))),
            ("resets", str(len(self.resets))),
            ("RST causes", _counts_text(self.cause_counts()) or "none"),
            ("connection ends", _counts_text(ends) or "none"),
        ]
        out = [f"<div class='rstlab-trace'><p><b>rstlab.Trace</b> "
               f"{html.escape(os.path.basename(self.path))}</p>", _kv_table(summary)]
        if self.error:
            out.append(f"<p style='color:#b00'>{html.escape(str(self.error))}</p>")
        if len(self.resets):
            out.append(_resets_html(self.resets, evidence=False, max_rows=10))
        out.append(self.connections._repr_html_(max_rows=10))
        out.append("</div>")
        return "".join(out)


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


_RESET_COLUMNS = ("frame", "conn_id", "sender", "flags", "phase", "acceptability", "effect", "origin",
                  "cause", "confidence", "alternatives")


def _resets_html(resets: Table[ResetRow], *, evidence: bool, max_rows: int = 20) -> str:
    """The resets as an HTML table: the verdict columns, and the evidence (wrapped) if asked."""
    cols = [c for c in _RESET_COLUMNS if c in resets.columns]
    if evidence and "evidence" in resets.columns:
        cols.append("evidence")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in Table.from_arrow(resets.to_arrow().slice(0, max_rows)).to_pylist():
        cells = []
        row: Mapping[str, object] = r
        for c in cols:
            v = row[c]
            text = (f"{v:.2f}" if isinstance(v, float) else ", ".join(map(str, v)) if isinstance(v, list)
                    else ("" if v is None else str(v)))
            style = (" style='text-align:left;max-width:48em;white-space:normal;font-size:smaller'"
                     if c == "evidence" else "")
            cells.append(f"<td{style}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>… {len(resets) - max_rows} more resets</p>" if len(resets) > max_rows else ""
    return (f"<p><b>resets</b>: {len(resets)}</p><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{more}")


def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='rstlab-summary'>{body}</table>"


class Connection:
    """One TCP connection: its summary row, its segments and its resets.

    Every column of its row (:class:`~rstlab.rows.ConnectionRow`, docs/columns.md) is also an
    attribute: ``c.conn_state``, ``c.orig_rst_frame``. ``trace`` is the :class:`Trace` it came
    from (``None`` when built by hand).
    """

    # The row's columns as attributes, typed for checkers (read through __getattr__ at run time;
    # tests/test_typing.py checks they match ConnectionRow).
    orig_addr: str
    orig_port: int
    resp_addr: str
    resp_port: int
    ip_version: int
    first_ts: datetime
    last_ts: datetime
    duration: timedelta
    first_frame: int
    last_frame: int
    orig_pkts: int
    resp_pkts: int
    orig_bytes: int
    resp_bytes: int
    conn_state: str
    history: str
    orig_syn_frame: int
    resp_syn_frame: int
    orig_fin_frame: int | None
    resp_fin_frame: int | None
    orig_rst_frame: int | None
    resp_rst_frame: int | None
    rst_count: int
    end_reason: str
    zeek_conns: int

    def __init__(self, row: ConnectionRow, segments: Table[SegmentRow],
                 resets: Table[ResetRow] | None = None, *, trace: Trace | None = None) -> None:
        self.row: ConnectionRow = row
        self.segments: Table[SegmentRow] = segments
        self.resets: Table[ResetRow] = (resets if resets is not None
                                        else Table.from_arrow(segments.to_arrow().slice(0, 0)))
        self.trace: Trace | None = trace

    if not TYPE_CHECKING:
        # Hidden from type checkers, so a misspelt column is an error to them, not an Any.
        def __getattr__(self, name: str) -> Any:
            try:
                return self.__dict__["row"][name]
            except KeyError:
                raise AttributeError(name) from None

    @property
    def conn_id(self) -> int:
        return int(self.row["conn_id"])

    def _endpoint(self, role: str) -> str:
        row: Mapping[str, Any] = self.row
        addr = row[f"{role}_addr"]
        port = row[f"{role}_port"]
        return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"

    def ladder(self, width: int = 72, max_segments: int | None = None) -> str:
        """A text ladder: one line per segment, originator on the left, RSTs with their cause.

        ``max_segments`` keeps the first third and the last segments and every RST, with one
        ``…`` line per gap.
        """
        lines = [f"{self._endpoint('orig'):<28}{'':>16}{self._endpoint('resp'):>28}"]
        causes: dict[int, str] = ({int(r["frame"]): r["cause"] for r in self.resets}
                                  if "cause" in self.resets.columns else {})
        segs = list(self.segments)
        shown: set[int] = set(range(len(segs)))
        if max_segments is not None and len(segs) > max_segments:
            head = max_segments // 3
            shown = (set(range(head)) | set(range(len(segs) - (max_segments - head), len(segs)))
                     | {i for i, s in enumerate(segs) if s["frame"] in causes})
        skipped = 0
        for i, s in enumerate(segs):
            if i not in shown:
                skipped += 1
                continue
            if skipped:
                lines.append(f"{'':>6} {f'… {skipped} segments not shown …':^{width}}".rstrip())
                skipped = 0
            label = f"{s['flags']} seq={s['seq_rel']} ack={s['ack_rel']} len={s['len']}"
            if s.get("retransmission"):
                label += "  retransmission"
            if s["frame"] in causes:
                label += f"  RST: {causes[s['frame']]}"
            if s["dir"] == "orig":
                arrow = f"{label} ".ljust(width - 2, "-") + "->"
            else:
                arrow = "<-" + f" {label}".rjust(width - 2, "-")
            lines.append(f"{s['frame']:>6} {arrow}")
        if skipped:
            lines.append(f"{'':>6} {f'… {skipped} segments not shown …':^{width}}".rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        r = self.row
        return (f"<rstlab.Connection {r['conn_id']}: {self._endpoint('orig')} → {self._endpoint('resp')} "
                f"{r['conn_state'] or '?'} {r['history'] or '-'} "
                f"pkts {r['orig_pkts']}/{r['resp_pkts']} bytes {r['orig_bytes']}/{r['resp_bytes']}>")

    def _repr_html_(self) -> str:
        r = self.row
        summary = [
            ("client (originator)", self._endpoint("orig")),
            ("server (responder)", self._endpoint("resp")),
            ("conn_state / history", f"{r.get('conn_state') or '?'} / {r.get('history') or '-'}"),
            ("packets", f"{r.get('orig_pkts')} → / ← {r.get('resp_pkts')}"),
            ("bytes", f"{r.get('orig_bytes')} → / ← {r.get('resp_bytes')}"),
            ("duration", f"{(r['duration'] // timedelta(microseconds=1)) / 1e6:.6f} s"),
            ("ended by", str(r.get("end_reason") or "?")),
        ]
        out = [f"<div class='rstlab-connection'><p><b>rstlab.Connection {self.conn_id}</b></p>",
               _kv_table(summary)]
        if len(self.resets):
            out.append(_resets_html(self.resets, evidence=True))
        try:
            from . import plot

            out.append(plot.svg_inline(plot.ladder, self, max_segments=40))
        except ImportError:
            out.append(f"<pre>{html.escape(self.ladder(max_segments=40))}</pre>")
        out.append("</div>")
        return "".join(out)
