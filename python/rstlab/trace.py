"""Reading captures: ``rstlab.read(path)`` → :class:`Trace`."""

from __future__ import annotations

import html
import os
import sys
from typing import Any, Callable

from . import _rstlab
from .errors import TraceFormatError, raise_for
from .table import Table

__all__ = ["read", "Trace", "Connection"]

ProgressArg = bool | Callable[[int, int], object] | None


class _Bar:
    """A plain stderr progress bar (no dependency), drawn only on a terminal."""

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


def _progress(arg: ProgressArg, label: str) -> tuple[Callable[[int, int], object] | None, _Bar | None]:
    if arg is True:
        bar = _Bar(label)
        return bar, bar
    if callable(arg):
        return arg, None
    return None, None


def _analyze(path: str, *, verify_checksums: bool, zeek_checksums: bool, zeek_bare: bool,
             segments: object, progress: ProgressArg) -> Any:
    cb, bar = _progress(progress, os.path.basename(path))
    try:
        return _rstlab.analyze_file(path, verify_checksums=verify_checksums or zeek_checksums,
                                    zeek_drop_bad_checksums=zeek_checksums, zeek_bare=zeek_bare,
                                    segments=segments,
                                    progress=cb)
    finally:
        if bar is not None:
            bar.close()


def read(path: str | os.PathLike[str], *, verify_checksums: bool = False,
         zeek_checksums: bool = False, zeek_bare: bool = False, errors: str = "raise",
         progress: ProgressArg = None) -> "Trace":
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
    - ``progress``: ``True`` for a progress bar on a terminal, or ``callback(done, total)``.
    """
    if errors not in ("raise", "keep"):
        raise ValueError("errors must be 'raise' or 'keep'")
    p = os.fspath(path)
    opts = dict(verify_checksums=verify_checksums, zeek_checksums=zeek_checksums, zeek_bare=zeek_bare)
    res = _analyze(p, segments=None, progress=progress, **opts)
    t = Trace(p, res, **opts)
    err = res.error
    if err is not None:
        if err.get("kind") in ("format", "unsupported_link") and errors == "keep":
            try:
                raise_for(err, t)
            except TraceFormatError as e:
                t.error = e
            return t
        raise_for(err, t)
    return t


class Trace:
    """One analysed capture: tables in bulk, objects for drill-down."""

    def __init__(self, path: str, native: Any, *, verify_checksums: bool = False,
                 zeek_checksums: bool = False, zeek_bare: bool = False,
                 segments: Table | None = None) -> None:
        self.path = path
        self._native = native
        self._opts = dict(verify_checksums=verify_checksums, zeek_checksums=zeek_checksums,
                          zeek_bare=zeek_bare)
        self.connections = Table(native.connections, "connections")
        self._zeek_split = getattr(native, "zeek_conns", None)
        self._zeek: Table | None = None
        #: One row per RST: who sent it, in answer to what, acceptability, effect, cause, evidence.
        self.resets = Table(native.resets, "resets")
        self.counts: dict[str, int] = dict(getattr(native, "counts", {}))
        self.error: TraceFormatError | None = None
        self._segments: Table | None = segments

    @property
    def zeek_conns(self) -> Table:
        """Connections as Zeek's conn.log would split them (its timers and tuple reuse can cut
        one Wireshark stream in several); ``conn_id`` names the stream each belongs to."""
        if self._zeek is None:
            import pyarrow as pa
            import pyarrow.compute as pc

            cols = ["conn_id", "orig_addr", "orig_port", "resp_addr", "resp_port", "conn_state", "history"]
            conns = self.connections.to_arrow()
            if self._zeek_split is None or "zeek_conns" not in conns.column_names:
                self._zeek = Table.from_arrow(conns.select([c for c in cols if c in conns.column_names]), "zeek_conns")
            else:
                whole = conns.filter(pc.equal(conns.column("zeek_conns"), 1)).select(cols)
                split = pa.table(self._zeek_split).select(cols)
                merged = pa.concat_tables([whole, split]).sort_by([("conn_id", "ascending")])
                self._zeek = Table.from_arrow(merged, "zeek_conns")
        return self._zeek

    @property
    def segments(self) -> Table:
        """Every TCP segment (one row per frame), computed on first use by a second pass."""
        if self._segments is None:
            res = _analyze(self.path, segments="all", progress=None, **self._opts)
            self._segments = Table(res.segments, "segments")
        return self._segments

    def connection(self, conn_id: int) -> "Connection":
        """Drill down into one connection (``conn_id`` as in Wireshark's ``tcp.stream``)."""
        rows = self.connections.filter(conn_id=conn_id).to_pylist()
        if not rows:
            raise KeyError(f"no connection {conn_id} in {self.path}")
        if self._segments is not None:
            segs = self._segments.filter(conn_id=conn_id)
        else:
            res = _analyze(self.path, segments=conn_id, progress=None, **self._opts)
            segs = Table(res.segments, "segments")
        return Connection(rows[0], segs, self.resets.filter(conn_id=conn_id))

    def write_pcapng(self, path: str | os.PathLike[str]) -> None:
        """Write the capture as pcapng with each RST's cause and evidence as a packet comment
        (Wireshark shows it as ``frame.comment``)."""
        comments = {}
        for r in self.resets:
            comments[int(r["frame"])] = (f"rstlab: {r['cause']} ({r['confidence']:.2f}), {r['sender']} "
                                         f"{r['origin']}, {r['phase']}, {r['acceptability']}, "
                                         f"{r['effect']}: {r['evidence']}")
        err = _rstlab.write_pcapng_with_comments(self.path, os.fspath(path), comments)
        raise_for(err)

    def __len__(self) -> int:
        return len(self.connections)

    def __repr__(self) -> str:
        c = self.counts
        return (f"<rstlab.Trace {os.path.basename(self.path)!r}: {len(self.connections)} connections, "
                f"{len(self.resets)} resets, {c.get('tcp', 0)} TCP segments of {c.get('frames', 0)} frames"
                f"{', damaged' if self.error else ''}>")

    def _repr_html_(self) -> str:
        c = self.counts
        head = (f"<p><b>{html.escape(os.path.basename(self.path))}</b>: {len(self.connections)} connections, "
                f"{c.get('tcp', 0)} TCP segments of {c.get('frames', 0)} frames</p>")
        if self.error:
            head += f"<p style='color:#b00'>{html.escape(str(self.error))}</p>"
        return head + self.connections._repr_html_()


class Connection:
    """One TCP connection: its summary row and its segments."""

    def __init__(self, row: dict[str, Any], segments: Table, resets: Table | None = None) -> None:
        self.row = row
        self.segments = segments
        self.resets = resets if resets is not None else Table.from_arrow(segments.to_arrow().slice(0, 0))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["row"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def conn_id(self) -> int:
        return int(self.row["conn_id"])

    def _endpoint(self, role: str) -> str:
        addr = self.row[f"{role}_addr"]
        port = self.row[f"{role}_port"]
        return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"

    def ladder(self, width: int = 72) -> str:
        """A text ladder: one line per segment, originator on the left."""
        lines = [f"{self._endpoint('orig'):<28}{'':>16}{self._endpoint('resp'):>28}"]
        causes = {int(r["frame"]): r["cause"] for r in self.resets} if "cause" in self.resets.columns else {}
        for s in self.segments:
            label = f"{s['flags']} seq={s['seq_rel']} ack={s['ack_rel']} len={s['len']}"
            if s["frame"] in causes:
                label += f"  RST: {causes[s['frame']]}"
            if s["dir"] == "orig":
                arrow = f"{label} ".ljust(width - 2, "-") + "->"
            else:
                arrow = "<-" + f" {label}".rjust(width - 2, "-")
            lines.append(f"{s['frame']:>6} {arrow}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        r = self.row
        return (f"<rstlab.Connection {r['conn_id']}: {self._endpoint('orig')} → {self._endpoint('resp')} "
                f"{r['conn_state'] or '?'} {r['history'] or '-'} "
                f"pkts {r['orig_pkts']}/{r['resp_pkts']} bytes {r['orig_bytes']}/{r['resp_bytes']}>")

    def _repr_html_(self) -> str:
        return (f"<p>{html.escape(repr(self))}</p><pre>{html.escape(self.ladder())}</pre>")
