"""Pictures of one connection: a ladder (flow) diagram and a time–sequence graph.

Both take a :class:`~rstlab.Connection` (``trace.connection(conn_id)``), draw on ``ax`` when
given, otherwise on a new pyplot figure, and return the ``Axes`` (``ax.figure`` is the Figure).
matplotlib is imported only here, and only when a plot is asked for; nothing needs a display.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol, Sequence

from .table import time_ns

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class ConnectionLike(Protocol):
    """What the plots read of a :class:`~rstlab.Connection`: typed by shape, because
    ``rstlab.trace`` imports this module (for ``Connection._repr_html_``) and the two must not
    import each other."""

    @property
    def row(self) -> Mapping[str, Any]: ...
    @property
    def segments(self) -> Any: ...

__all__ = ["ladder", "time_sequence", "tcpdump_label", "event_label", "window_scales", "receive_window"]

RST_COLOR = "#d62728"
RETRANS_COLOR = "#ff7f0e"
SACK_COLOR = "#9467bd"
ZERO_WINDOW_COLOR = "#8c564b"
DIR_COLOR = {"orig": "#1f77b4", "resp": "#2ca02c"}
EVENT_COLOR = "#9467bd"
_ROLE = {"client": "orig", "server": "resp", "orig": "orig", "resp": "resp"}


def _import_mpl() -> Any:
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("rstlab plots need matplotlib: pip install 'rstlab[plot]'") from e
    return matplotlib


def _new_axes(figsize: tuple[float, float]) -> "Axes":
    _import_mpl()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    return ax


def tcpdump_label(seg: Mapping[str, Any]) -> str:
    """A segment in tcpdump's notation: ``[P.] seq 1:26, ack 1, win 17232, length 25``.

    As tcpdump prints it (print-tcp.c): ``seq`` only for data, SYN, FIN or RST, as
    ``start:end`` when there is data; ``ack`` only when the ACK flag is set.
    """
    flags = seg["flags"] or "none"
    length = int(seg["len"])
    parts = [f"[{flags}]"]
    if length > 0 or any(f in flags for f in "SFR"):
        seq = int(seg["seq_rel"])
        parts.append(f"seq {seq}:{seq + length}" if length else f"seq {seq}")
    if "." in flags:
        parts.append(f"ack {int(seg['ack_rel'])}")
    parts.append(f"win {int(seg['window'])}")
    parts.append(f"length {length}")
    return ", ".join(parts[:1]) + " " + ", ".join(parts[1:])


def _endpoint(row: Mapping[str, Any], role: str) -> str:
    addr, port = row[f"{role}_addr"], row[f"{role}_port"]
    return f"[{addr}]:{port}" if ":" in str(addr) else f"{addr}:{port}"


def _reset_rows(conn: "ConnectionLike") -> dict[int, dict[str, Any]]:
    resets = getattr(conn, "resets", None)
    if resets is None or len(resets) == 0 or "cause" not in resets.columns:
        return {}
    return {int(r["frame"]): r for r in resets}


def event_label(ev: Mapping[str, Any]) -> str:
    """``connect() → ECONNREFUSED``, ``send() → sent 4``: the call and what it returned."""
    call = str(ev.get("call", "?"))
    if not call.endswith(")"):
        call += "()"
    err = ev.get("errno")
    if err:
        return f"{call} → {err}"
    if ev.get("result") not in (None, ""):
        return f"{call} → {ev['result']}"
    return call


def _elide(rows: list[dict[str, Any]], keep: set[int], max_rows: int) -> list[dict[str, Any]]:
    """At most ``max_rows`` rows: the first and last ones, plus every row in ``keep`` (RSTs),
    with one "… n not shown" marker per gap."""
    if max_rows <= 0 or len(rows) <= max_rows:
        return rows
    head = max_rows // 3
    tail = max_rows - head
    chosen = set(range(head)) | set(range(len(rows) - tail, len(rows))) | keep
    out: list[dict[str, Any]] = []
    skipped = 0
    for i, r in enumerate(rows):
        if i in chosen:
            if skipped:
                out.append({"kind": "gap", "n": skipped})
                skipped = 0
            out.append(r)
        else:
            skipped += 1
    if skipped:
        out.append({"kind": "gap", "n": skipped})
    return out


def ladder(conn: "ConnectionLike", ax: "Axes | None" = None, *,
           events: Iterable[Mapping[str, Any]] | None = None, max_segments: int = 60,
           title: str | None = None) -> "Axes":
    """A flow diagram like Wireshark's flow graph (Statistics → Flow Graph → TCP flows).

    One vertical line per endpoint (originator = client on the left), time running down with
    each row's time relative to the first segment and its frame number on the left, one arrow
    per segment labelled in tcpdump notation. RSTs are red, with their cause and confidence;
    retransmissions (the segments table's ``retransmission``) orange and dashed, so marked.

    ``events`` are application events to mark on the endpoint lines, each a mapping with
    ``host`` (``"client"``/``"server"``), ``call``, ``result`` or ``errno``, and ``ts`` (a time
    as the tables hold it, or epoch seconds; the capture's clock); they are placed in time order among the segments.
    ``max_segments`` caps the rows drawn (segments and events): the first and last rows, every
    RST and every failed call are kept.
    """
    segs = list(conn.segments)
    rsts = _reset_rows(conn)
    t0 = min([time_ns(s["ts"]) for s in segs], default=0)

    rows: list[dict[str, Any]] = [{"kind": "seg", "ts": time_ns(s["ts"]), "seg": s} for s in segs]
    for ev in events or ():
        ts = ev.get("ts")
        rows.append({"kind": "event", "ts": time_ns(ts) if ts is not None else math.inf, "ev": ev})
    # Stable sort: an event at the same instant as a segment goes after it.
    rows.sort(key=lambda r: r["ts"])
    # Elision keeps every RST and every failed call; other events count as rows like segments.
    keep = {i for i, r in enumerate(rows)
            if (r["kind"] == "event" and r["ev"].get("errno"))
            or (r["kind"] == "seg" and int(r["seg"]["frame"]) in rsts)}
    rows = _elide(rows, keep, max_segments)

    n = len(rows)
    if ax is None:
        ax = _new_axes((11.0, 1.6 + 0.36 * max(n, 1)))
    # Columns: frame and time (right-aligned; separate texts, as SVG collapses runs of spaces),
    # client line, server line, comment.
    x_frame, x_time, x_c, x_s, x_note = -0.36, -0.1, 0.0, 1.0, 1.04
    ax.set_xlim(-0.5, 1.62)
    ax.set_ylim(n + 0.2, -1.0)
    ax.axis("off")

    row = conn.row
    # Endpoint names sit just above the axes (in points, so they never crowd the rows), the
    # title above them.
    for x, role, who in ((x_c, "orig", "client"), (x_s, "resp", "server")):
        ax.annotate(f"{who}\n{_endpoint(row, role)}", xy=(x, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                    fontsize=9, fontweight="bold")
    ax.text(x_frame, -0.6, "frame", ha="right", va="center", fontsize=8, color="#555")
    ax.text(x_time, -0.6, "time (s)", ha="right", va="center", fontsize=8, color="#555")
    ax.text(x_note, -0.6, "comment", ha="left", va="center", fontsize=8, color="#555")
    for x in (x_c, x_s):
        ax.plot([x, x], [-0.5, n - 0.3], color="#777", lw=1.2, zorder=1)

    for y, r in enumerate(rows):
        if r["kind"] == "gap":
            ax.text(0.5, y, f"… {r['n']} rows not shown …", ha="center", va="center", fontsize=8,
                    color="#777", style="italic")
            continue
        if r["kind"] == "event":
            ev = r["ev"]
            role = _ROLE.get(str(ev.get("host", "")).lower(), "orig")
            x = x_c if role == "orig" else x_s
            err = bool(ev.get("errno"))
            color = RST_COLOR if err else EVENT_COLOR
            ax.plot([x], [y], marker="D", ms=7, color=color, zorder=3)
            ax.text(x + (0.025 if role == "orig" else -0.025), y, event_label(ev),
                    ha="left" if role == "orig" else "right", va="center", fontsize=8,
                    color=color, fontweight="bold",
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=color, lw=0.6))
            if math.isfinite(r["ts"]):
                ax.text(x_time, y, f"{(r['ts'] - t0) / 1e9:.6f}", ha="right", va="center",
                        fontsize=8, family="monospace", color=color)
            continue
        s = r["seg"]
        frame = int(s["frame"])
        rst = rsts.get(frame)
        again = bool(s.get("retransmission"))
        color = RST_COLOR if rst is not None else RETRANS_COLOR if again else "#222"
        x0, x1 = (x_c, x_s) if s["dir"] == "orig" else (x_s, x_c)
        ax.annotate("", xy=(x1, y + 0.18), xytext=(x0, y + 0.18),
                    arrowprops=dict(arrowstyle="-|>", color=color, lw=1.8 if rst else 1.0,
                                    linestyle="--" if again else "-", shrinkA=0, shrinkB=0), zorder=2)
        ax.text(0.5, y + 0.05, tcpdump_label(s), ha="center", va="bottom", fontsize=8,
                family="monospace", color=color, fontweight="bold" if rst else "normal")
        ax.text(x_frame, y + 0.18, str(frame), ha="right", va="center", fontsize=8,
                family="monospace", color=color)
        ax.text(x_time, y + 0.18, f"{(time_ns(s['ts']) - t0) / 1e9:.6f}", ha="right", va="center", fontsize=8,
                family="monospace", color=color)
        if rst is not None:
            ax.text(x_note, y + 0.18, f"RST: {rst['cause']} ({float(rst['confidence']):.2f})",
                    ha="left", va="center", fontsize=8.5, color=RST_COLOR, fontweight="bold")
        elif again:
            ax.text(x_note, y + 0.18, "retransmission", ha="left", va="center", fontsize=8.5,
                    color=RETRANS_COLOR, fontweight="bold")
    if title is None:
        title = (f"connection {row['conn_id']}: {row.get('conn_state') or '?'} "
                 f"{row.get('history') or '-'}, ended by {row.get('end_reason') or '?'}")
    ax.set_title(title, fontsize=10, loc="left", pad=30)
    return ax


STYLES = ("stevens", "tcptrace")


def _seq_span(s: Mapping[str, Any]) -> int:
    """Sequence space a segment occupies: its data, plus one each for SYN and FIN (RFC 9293 §3.4)."""
    return int(s["len"]) + ("S" in s["flags"]) + ("F" in s["flags"])


def window_scales(segs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The shift each role's window fields are scaled by (RFC 7323 §2.2): the ``wscale`` its
    SYN announced, in effect only when both SYNs carried the option; otherwise 0 for both."""
    shifts: dict[str, int] = {}
    for s in segs:
        if "S" in s["flags"] and s["dir"] not in shifts:
            ws = s.get("wscale")
            shifts[s["dir"]] = int(ws) if ws is not None else -1
    if shifts.get("orig", -1) < 0 or shifts.get("resp", -1) < 0:
        return {"orig": 0, "resp": 0}
    # RFC 7323 §2.3: a shift count above 14 is used as 14.
    return {d: min(int(v), 14) for d, v in shifts.items()}


def receive_window(seg: Mapping[str, Any], shifts: Mapping[str, int]) -> int:
    """The window ``seg`` offers in bytes: its window field scaled by its sender's shift, except
    in a SYN, whose window field is never scaled (RFC 7323 §2.2)."""
    win = int(seg["window"])
    return win if "S" in seg["flags"] else win << shifts.get(str(seg["dir"]), 0)


def time_sequence(conn: "ConnectionLike", ax: "Axes | None" = None, *,
                  directions: Sequence[str] = ("orig", "resp"), style: str = "stevens",
                  title: str | None = None) -> "Axes":
    """A time–sequence graph, Stevens style (the default) or tcptrace style.

    For each direction, every segment is a vertical bar from its relative sequence number to
    the end of its data (SYN and FIN count one, RFC 9293 §3.4), and the peer's acknowledgment
    number is drawn as a step line (what that direction had had acknowledged at each moment).
    RSTs are red crosses at their sequence number, annotated with their cause.

    ``style="tcptrace"`` adds what tcptrace's graph shows: the receive-window line (the peer's
    ACK plus the window it offered, scaled by the shift its SYN announced, RFC 7323 §2), the SACK
    blocks the peer reported (RFC 2018) as bars at the time of its ACK, zero windows the peer
    advertised as triangles on the ACK line, and retransmitted segments (the segments table's
    ``retransmission``: data sent again) in orange with an ``R``. The window, SACK and
    zero-window marks are drawn for the directions that sent data.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(map(repr, STYLES))}, not {style!r}")
    segs = list(conn.segments)
    rsts = _reset_rows(conn)
    if ax is None:
        ax = _new_axes((10.0, 5.0))
    t0 = min([time_ns(s["ts"]) for s in segs], default=0)
    span_t = max([(time_ns(s["ts"]) - t0) / 1e9 for s in segs], default=0.0) or 1.0
    placed: list[tuple[float, int]] = []
    row = conn.row
    tcptrace = style == "tcptrace"
    shifts = window_scales(segs)
    for d in directions:
        peer = "resp" if d == "orig" else "orig"
        color = DIR_COLOR[d]
        mine = [s for s in segs if s["dir"] == d]
        label = f"{_endpoint(row, d)} → {_endpoint(row, peer)}"
        bars: dict[bool, tuple[list[float], list[float], list[float]]] = {False: ([], [], []), True: ([], [], [])}
        for s in mine:
            if "R" in s["flags"]:
                continue
            seq = int(s["seq_rel"])
            xs, ys0, ys1 = bars[tcptrace and bool(s.get("retransmission"))]
            xs.append((time_ns(s["ts"]) - t0) / 1e9)
            ys0.append(seq)
            ys1.append(seq + max(_seq_span(s), 0))
        for again, (xs, ys0, ys1) in bars.items():
            if not xs:
                continue
            c = RETRANS_COLOR if again else color
            ax.vlines(xs, ys0, ys1, color=c, lw=2.0,
                      label=f"{label} retransmission" if again else f"{label} data")
            ax.plot(xs, ys1, linestyle="none", marker="_", ms=6, color=c)
            if again:
                for x, y in zip(xs, ys1):
                    ax.annotate("R", (x, y), xytext=(2, 1), textcoords="offset points", fontsize=7,
                                color=RETRANS_COLOR, fontweight="bold")
        theirs = [s for s in segs if s["dir"] == peer and "." in s["flags"]]
        acks = [((time_ns(s["ts"]) - t0) / 1e9, int(s["ack_rel"])) for s in theirs]
        if acks:
            ax.step([a[0] for a in acks], [a[1] for a in acks], where="post", color=color,
                    alpha=0.45, lw=1.2, label=f"{label} ACKed by peer")
        # The window, SACK and zero-window marks describe a direction's data: a direction that
        # sent none would only stretch the axis to the peer's unused window.
        if tcptrace and any(int(s["len"]) > 0 for s in mine):
            _tcptrace_marks(ax, theirs, t0, shifts, label, color)
        for s in mine:
            rst = rsts.get(int(s["frame"]))
            if "R" not in s["flags"]:
                continue
            x, y = (time_ns(s["ts"]) - t0) / 1e9, int(s["seq_rel"])
            ax.plot([x], [y], marker="X", ms=10, color=RST_COLOR, zorder=4)
            text = f"RST {s['frame']}" + (f": {rst['cause']}" if rst is not None else "")
            # Stack the labels of RSTs that land on the same spot (bursts, duplicated frames).
            near = sum(1 for p in placed if abs(p[0] - x) < 0.02 * span_t and p[1] == y)
            placed.append((x, y))
            # Labels of RSTs in the last fifth of the time axis read leftwards, inside the axes.
            left = x > 0.8 * span_t
            ax.annotate(text, (x, y), xytext=(-6 if left else 6, 6 + 11 * near),
                        textcoords="offset points", ha="right" if left else "left",
                        fontsize=8, color=RST_COLOR, fontweight="bold")
    ax.set_xlabel("time since first segment (s)")
    ax.set_ylabel("relative sequence number")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        if tcptrace:
            # tcptrace's marks make a long legend: beside the plot, not over the data.
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        else:
            ax.legend(fontsize=8, loc="upper left")
    if title is None:
        title = f"connection {row['conn_id']}: time–sequence"
    ax.set_title(title, fontsize=10, loc="left")
    return ax


def _tcptrace_marks(ax: "Axes", theirs: Sequence[Mapping[str, Any]], t0: int,
                    shifts: Mapping[str, int], label: str, color: str) -> None:
    """The receive window (dashed, in the direction's ``color``), SACK blocks and zero windows
    the peer's ACKs (``theirs``) report about one direction's data."""
    # A RST offers no window: it ends the connection (RFC 9293 §3.5.2).
    live = [s for s in theirs if "R" not in s["flags"]]
    if live:
        ax.step([(time_ns(s["ts"]) - t0) / 1e9 for s in live],
                [int(s["ack_rel"]) + receive_window(s, shifts) for s in live], where="post",
                color=color, linestyle=(0, (4, 2)), lw=1.2, label=f"{label} receive window")
    xs: list[float] = []
    lo: list[int] = []
    hi: list[int] = []
    for s in live:
        for block in filter(None, str(s.get("sack") or "").split(",")):
            left, right = block.split("-")
            xs.append((time_ns(s["ts"]) - t0) / 1e9)
            lo.append(int(left))
            hi.append(int(right))
    if xs:
        ax.vlines(xs, lo, hi, color=SACK_COLOR, lw=3.0, alpha=0.8, label=f"{label} SACKed")
    zero = [s for s in live if int(s["window"]) == 0]
    if zero:
        ax.plot([(time_ns(s["ts"]) - t0) / 1e9 for s in zero], [int(s["ack_rel"]) for s in zero],
                linestyle="none", marker="v", ms=8, color=ZERO_WINDOW_COLOR, zorder=4,
                label=f"{label} zero window")


def render(draw: Any, conn: "ConnectionLike", fmt: str = "svg", **kwargs: Any) -> bytes:
    """Draw ``conn`` with ``draw`` (:func:`ladder` or :func:`time_sequence`) on a figure that is
    not registered with pyplot, and return it as SVG (text kept as text) or PNG bytes."""
    _import_mpl()
    import io

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw(conn, ax, **kwargs)
    if draw is ladder:
        n = ax.get_ylim()[0]
        fig.set_size_inches(11.0, 1.6 + 0.36 * max(n, 1))
    else:
        fig.set_size_inches(10.0, 5.0)
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "rstlab"}):
        fig.savefig(buf, format=fmt, dpi=96 if fmt == "png" else None, bbox_inches="tight",
                    pad_inches=0.15)
    return buf.getvalue()


def svg_inline(draw: Any, conn: "ConnectionLike", **kwargs: Any) -> str:
    """The SVG of :func:`render` without its XML prolog, ready to inline in HTML."""
    svg = render(draw, conn, "svg", **kwargs).decode("utf-8")
    return svg[svg.index("<svg"):]
