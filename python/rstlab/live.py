"""``rstlab watch``: every RST on a running host explained as it happens.

:func:`watch` captures TCP in a network namespace (a kernel-side BPF filter, 192 bytes of each
segment), reads the kernel's reset tracepoints from a private tracefs instance and yields one row
per RST once it can be judged: the resets table's columns (``rstlab.columns()``) plus ``src``,
``sport``, ``dst``, ``dport``, ``history`` / ``conn_state`` (Zeek's, so far), ``kernel_reason``,
``kernel_state``, ``pid``, ``comm`` and ``judged``.

When a row comes: the classifier reads what followed a RST (did the receiver go silent, send a
challenge ACK, keep talking?), so a RST is judged ``settle`` seconds after it (default 1 s), or
when its connection is retired (ended and quiet for ``closed_idle`` seconds), whichever is first
(``judged``: ``settle`` or ``close``). Rows are dicts; ``frame`` numbers the frames the watch saw.

Read-only: nothing on the host changes; the trace instance is removed when the watch ends
(Ctrl-C included). Without tracefs (not real root) ``kernel_reason`` is null and
``kernel_note`` says why; without CAP_NET_RAW (or CAP_SYS_ADMIN to enter another namespace) it
raises :class:`~rstlab.PrivilegeError`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Iterator

from . import _rstlab
from .table import readable, rfc3339, time_ns

if TYPE_CHECKING:
    from .rows import WatchRow

__all__ = ["watch", "Watch", "replay", "summary"]

#: What each row carries beside the resets table's columns.
EXTRA_COLUMNS = ("src", "sport", "dst", "dport", "history", "conn_state", "judged",
                 "kernel_reason", "kernel_state", "pid", "comm")


def _rows(table: Any, extras: list[dict[str, Any]]) -> list[WatchRow]:
    import pyarrow as pa

    # Rows show a RST's evidence rendered (the batch keeps it as template and values).
    rows: list[WatchRow] = readable(pa.table(table)).to_pylist()
    for r, e in zip(rows, extras):
        r.update(e)  # type: ignore[typeddict-item]
    return rows


class Watch:
    """A running watch: iterate it for rows; use it as a context manager (or call
    :meth:`close`) so the capture and the trace instance end.

    Iteration ends when ``duration`` is over or after :meth:`stop` (the RSTs still waiting are
    judged first). :meth:`summary` counts what was seen per cause and per process.
    """

    def __init__(self, *, netns: str | None = None, netns_pid: int | None = None,
                 interface: str | None = None, filter: str | None = None, settle: float = 1.0,
                 pcapng: str | os.PathLike[str] | None = None, kernel: bool = True,
                 duration: float | None = None, closed_idle: int = 5, idle: int = 300) -> None:
        self._pcapng = os.fspath(pcapng) if pcapng is not None else None
        self._partial = f"{self._pcapng}.partial" if self._pcapng else None
        self._w = _rstlab.Watch(netns=netns, netns_pid=netns_pid,
                                interface=None if interface in (None, "any") else interface,
                                filter=filter, settle=settle, pcapng=self._partial, kernel=kernel,
                                duration=duration, idle=idle, closed_idle=closed_idle)
        # Imported now, not with the first RST: its import takes a good part of a second.
        import pyarrow  # noqa: F401

        #: Batches taken from the worker and not yet converted (kept if Ctrl-C interrupts the
        #: conversion, so no row is lost).
        self._raw: list[Any] = []
        self._pending: list[WatchRow] = []
        self._seen: list[WatchRow] = []
        self._ended = False
        self._closed = False
        self._final_stats: dict[str, int] | None = None
        #: Why ``kernel_reason`` is null (``None``: the kernel's reasons are read).
        self.kernel_note: str | None = self._w.kernel_note

    def poll(self, timeout: float = 0.2) -> list[WatchRow]:
        """The rows judged within ``timeout`` seconds (possibly none)."""
        if self._pending:
            out, self._pending = self._pending, []
            return out
        if self._ended and not self._raw:
            return []
        try:
            got = self._w.next_batch(timeout)
        except StopIteration:
            self._ended = True
            got = None
        if got is not None:
            self._raw.append(got)
        rows: list[WatchRow] = []
        while self._raw:
            converted = _rows(*self._raw[0])
            self._raw.pop(0)
            rows += converted
        self._seen.extend(rows)
        return rows

    def __iter__(self) -> Iterator[WatchRow]:
        while True:
            rows = self.poll()
            yield from rows
            if self._ended and not self._pending and not self._raw:
                return

    def stop(self) -> None:
        """Ends the capture; the rows still pending remain to be read."""
        self._w.stop()

    def drain(self) -> list[WatchRow]:
        """Stops and returns every row not yet read."""
        self.stop()
        out = list(self._pending)
        self._pending = []
        while not self._ended or self._raw:
            out.extend(self.poll(0.5))
        return out

    @property
    def stats(self) -> dict[str, int]:
        """frames, tcp, dropped (the socket's buffer overflowed), kernel_overruns (trace ring),
        kernel_events, resets, alive / peak_alive (connections tracked)."""
        if self._final_stats is not None:
            return dict(self._final_stats)
        return dict(self._w.stats())

    @property
    def seen(self) -> list[WatchRow]:
        """Every row read so far."""
        return list(self._seen)

    def summary(self) -> dict[str, Any]:
        """Counts per cause and per process of the rows read so far, and the counters."""
        return summary(self._seen, self.stats)

    def collect(self) -> list[WatchRow]:
        """Ends the watch and returns every RST row it saw."""
        self.close()
        self.poll(0)
        return self.seen

    def close(self) -> None:
        """Stops, waits for the worker (the trace instance is removed) and writes ``pcapng``
        with each RST's cause as a packet comment. Rows not read are kept in :attr:`seen`."""
        if self._closed:
            return
        self._closed = True
        self._pending.extend(self.drain())
        self._final_stats = dict(self._w.stats())
        self._w.close()
        if self._pcapng and self._partial and os.path.exists(self._partial):
            from .trace import rst_comment

            comments = {int(r["frame"]): rst_comment(r) for r in self._seen}
            _rstlab.write_pcapng_with_comments(self._partial, self._pcapng, comments)
            os.remove(self._partial)

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self._w.close()
            except Exception:
                pass


def watch(*, netns: str | None = None, netns_pid: int | None = None, interface: str | None = None,
          filter: str | None = None, settle: float = 1.0, pcapng: str | os.PathLike[str] | None = None,
          kernel: bool = True, duration: float | None = None, closed_idle: int = 5, idle: int = 300) -> Watch:
    """Start watching (see :class:`Watch` for the arguments): ``netns`` (an ``ip netns`` name)
    or ``netns_pid`` (a process's namespace), ``interface`` (default every one), ``filter`` (a
    pcap expression; needs libpcap at run time), ``settle``, ``pcapng``, ``duration``."""
    return Watch(netns=netns, netns_pid=netns_pid, interface=interface, filter=filter, settle=settle,
                 pcapng=pcapng, kernel=kernel, duration=duration, closed_idle=closed_idle, idle=idle)


def replay(run: Any, settle: float = 1.0) -> list[WatchRow]:
    """A lab run's RSTs streamed through the live path (its capture's clock as the live clock):
    the rows :func:`watch` would have printed, joined with the run's kernel events. ``frame``
    numbers are the run's own (``run.resets``)."""
    raw = getattr(run, "_native", run)
    return _rows(*_rstlab.watch_replay(raw, settle))


def summary(rows: list[WatchRow], stats: dict[str, int] | None = None) -> dict[str, Any]:
    """RSTs per cause and per process (``comm[pid]``, or ``-`` when unknown)."""
    causes = Counter(r["cause"] for r in rows)
    procs = Counter(f"{r['comm']}[{r['pid']}]" if r.get("pid") is not None else "-" for r in rows)
    return {"resets": len(rows), "by_cause": dict(causes.most_common()),
            "by_process": dict(procs.most_common()), "stats": dict(stats or {})}


def format_row(r: WatchRow) -> str:
    """One table line: time, 4-tuple, sender, flags, cause (confidence), kernel reason,
    process, history, evidence."""
    ns = time_ns(r["ts"])
    t = time.strftime("%H:%M:%S", time.localtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}"
    proc = f"{r['comm']}[{r['pid']}]" if r.get("pid") is not None else "-"
    return (f"{t} {r['src']}:{r['sport']} > {r['dst']}:{r['dport']} {r['sender']} [{r['flags']}] "
            f"{r['cause']} ({r['confidence']:.2f}) kernel={r['kernel_reason'] or '-'} {proc} "
            f"history={r['history']} | {r['evidence']}")


def _jsonable(r: WatchRow) -> dict[str, Any]:
    return {k: (v if isinstance(v, (str, int, float, bool, type(None)))
                else [str(x) for x in v] if isinstance(v, list)  # `alternatives`: cause ids
                else rfc3339(time_ns(v)) if k == "ts" else str(v)) for k, v in r.items()}


def cli(args: Any) -> int:
    """``rstlab watch``: rows as they are judged, then a summary per cause and per process (on
    stderr for ``--format jsonl``, so stdout stays one JSON object per line)."""
    w = Watch(netns=args.netns, netns_pid=args.netns_pid, interface=args.interface,
              filter=args.filter, pcapng=args.pcapng, duration=args.duration, settle=args.settle)
    info = sys.stderr
    if w.kernel_note:
        print(f"rstlab watch: kernel_reason is null: {w.kernel_note}", file=info)
    def emit(r: WatchRow) -> None:
        print(json.dumps(_jsonable(r)) if args.format == "jsonl" else format_row(r), flush=True)

    try:
        for r in w:
            emit(r)
    except KeyboardInterrupt:
        pass
    finally:
        w.close()
    for r in w.poll(0):
        emit(r)
    s = w.summary()
    out = sys.stderr if args.format == "jsonl" else sys.stdout
    st = s["stats"]
    print(f"rstlab watch: {s['resets']} RSTs; {st.get('frames', 0)} frames seen, {st.get('dropped', 0)} dropped "
          f"by the socket, {st.get('kernel_overruns', 0)} kernel events lost", file=out)
    for title, key in (("per cause", "by_cause"), ("per process", "by_process")):
        print(f"  {title}: " + (", ".join(f"{k} {v}" for k, v in s[key].items()) or "none"), file=out)
    return 0


def add_parser(sub: Any) -> None:
    """The ``watch`` subcommand's arguments (the CLI's one hook)."""
    w = sub.add_parser("watch", help="explain RSTs live on this host: cause, kernel reason, process (root)")
    g = w.add_mutually_exclusive_group()
    g.add_argument("--netns", metavar="NAME", help="an `ip netns` namespace (/run/netns/NAME)")
    g.add_argument("--netns-pid", type=int, metavar="PID", help="the namespace of process PID")
    w.add_argument("--interface", "-i", default="any", help="interface, or `any` (default)")
    w.add_argument("--filter", metavar="BPF", help="pcap filter expression (needs libpcap at run time)")
    w.add_argument("--format", choices=["table", "jsonl"], default="table")
    w.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (else Ctrl-C)")
    w.add_argument("--pcapng", metavar="FILE", help="write what was seen, causes as packet comments")
    w.add_argument("--settle", type=float, default=1.0, metavar="S",
                   help="judge a RST S seconds after it if its connection goes on (default 1)")
    w.set_defaults(func=cli)
