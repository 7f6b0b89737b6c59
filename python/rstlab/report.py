"""One self-contained HTML page about captures and lab runs: ``write_report(path, traces, runs)``.

Everything is inline (CSS, bar charts as ``<svg>``, ladders as base64 PNG ``<img>``), so the
file can be mailed or attached to a ticket and opened anywhere without network access.
Without matplotlib the ladders are text (``<pre>``).

A *run* is anything with these attributes (or a mapping with these keys), as the lab's ``Run``
objects have: ``scenario`` (a name, or an object with ``name``), ``ip_version`` (optional),
``claim`` (an id such as ``"S11"`` or the text under test; ``info["statement"]``, when there,
is the claim's text), ``verdict`` (``"holds"`` / ``"differs"`` / ``None``; or ``holds``:
``True`` / ``False`` / ``None``), ``evidence`` (text or a list of texts) and ``trace`` (a
:class:`~rstlab.Trace` or ``None``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .table import time_ns

if TYPE_CHECKING:
    from .trace import Trace

__all__ = ["write_report", "render_report"]

_CSS = """
body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1180px;
color:#222;line-height:1.35}
h1{font-size:1.6em;margin-bottom:0}h2{margin-top:2em;border-bottom:1px solid #ccc}
h3{margin-bottom:.3em}.meta{color:#666;font-size:.9em}
table{border-collapse:collapse;margin:.5em 0 1em}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top;font-size:.9em}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.holds{color:#17692c;font-weight:bold}.differs{color:#c0141c;font-weight:bold}
.unknown{color:#666;font-weight:bold}.ev{font-size:.8em;color:#444;max-width:560px}
.ladder{margin:.5em 0 1.5em}.ladder img{max-width:100%;border:1px solid #eee}
pre{background:#f8f8f8;padding:8px;overflow-x:auto;font-size:.8em}
.note{color:#666;font-style:italic}
"""


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _verdict(run: Any) -> tuple[str, str]:
    """(css class, text) of a run's verdict."""
    holds = _get(run, "holds")
    if holds is None:
        v = str(_get(run, "verdict", "") or "").lower()
        holds = {"holds": True, "differs": False}.get(v)
    if holds is True:
        return "holds", "holds"
    if holds is False:
        return "differs", "differs"
    return "unknown", "not decided"


def _scenario_name(run: Any) -> str:
    sc = _get(run, "scenario", "?")
    name = _get(sc, "name", None) if not isinstance(sc, str) else sc
    v = _get(run, "ip_version")
    return str(name if name is not None else sc) + (f" (IPv{v})" if v else "")


def _claim_text(run: Any) -> str:
    claim = str(_get(run, "claim", "") or "")
    statement = _get(_get(run, "info", None) or {}, "statement", None)
    return f"{claim}: {statement}" if statement and claim else (statement or claim)


def _evidence_html(ev: Any) -> str:
    if ev is None:
        return ""
    if isinstance(ev, str):
        return html.escape(ev)
    if isinstance(ev, Mapping):
        ev = [f"{k}: {v}" for k, v in ev.items()]
    return "<br>".join(html.escape(str(e)) for e in ev)


def _bar_svg(counts: Mapping[str, int], color: str = "#4a7ebb", width: int = 360) -> str:
    """A small horizontal bar chart as inline SVG (no matplotlib needed)."""
    if not counts:
        return ""
    top = max(counts.values()) or 1
    row_h, label_w = 18, 170
    h = row_h * len(counts) + 4
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{label_w + width + 50}' height='{h}' "
             f"role='img' aria-label='counts'>"]
    for i, (k, v) in enumerate(counts.items()):
        y = 2 + i * row_h
        w = max(1, int(width * v / top))
        bar = "#d62728" if k in ("injected",) else color
        parts.append(f"<text x='{label_w - 6}' y='{y + 13}' text-anchor='end' font-size='12' "
                     f"font-family='sans-serif'>{html.escape(k)}</text>"
                     f"<rect x='{label_w}' y='{y + 2}' width='{w}' height='{row_h - 5}' fill='{bar}'/>"
                     f"<text x='{label_w + w + 4}' y='{y + 13}' font-size='12' "
                     f"font-family='sans-serif'>{v}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _count(values: Iterable[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def _events_near(conn: Any, events: list[Any] | None) -> list[Any] | None:
    """The events from shortly before the connection's first segment to shortly after its last
    (a run's events carry no connection id; a run may hold many connections)."""
    if not events:
        return events
    first, last = time_ns(conn.row["first_ts"]), time_ns(conn.row["last_ts"])
    margin = max(1_000_000, (last - first) // 20)
    return [e for e in events
            if _get(e, "ts") is not None and first - margin <= time_ns(_get(e, "ts")) <= last + margin]


def _ladder_html(conn: Any, max_segments: int, events: list[Any] | None = None) -> str:
    events = _events_near(conn, events)
    try:
        from . import plot

        png = plot.render(plot.ladder, conn, "png", max_segments=max_segments, events=events)
    except ImportError:
        return f"<pre>{html.escape(conn.ladder(max_segments=max_segments))}</pre>"
    b64 = base64.b64encode(png).decode("ascii")
    return (f"<img alt='ladder of connection {conn.conn_id}' "
            f"src='data:image/png;base64,{b64}'>")


def _trace_section(t: "Trace", anchor: str, max_ladders: int, max_segments: int,
                   max_resets: int, label: str = "", events: list[Any] | None = None,
                   budget: list[int] | None = None) -> str:
    tcp = t.counts.get("tcp", 0)
    out: list[str] = [f"<h2 id='{anchor}'>{html.escape(label or os.path.basename(t.path))}</h2>",
           f"<p class='meta'>{html.escape(t.path)}: {t.counts.get('frames', tcp)} frames, "
           f"{tcp} TCP segments, {len(t.connections)} connections, "
           f"{len(t.resets)} resets</p>"]
    if t.error is not None:
        out.append(f"<p class='differs'>read stopped early: {html.escape(str(t.error))}</p>")
    causes = _count(t.resets["cause"]) if len(t.resets) else {}
    ends = _count(t.connections["end_reason"]) if len(t.connections) else {}
    out.append("<h3>RST causes</h3>")
    if causes:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td class='num'>{v}</td></tr>"
                       for k, v in causes.items())
        out.append(f"<table class='causes'><tr><th>cause</th><th>RSTs</th></tr>{rows}</table>")
        out.append(_bar_svg(causes))
    else:
        out.append("<p class='note'>no RST in this capture</p>")
    if ends:
        out.append("<h3>How connections ended</h3>")
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td class='num'>{v}</td></tr>"
                       for k, v in ends.items())
        out.append(f"<table class='ends'><tr><th>end_reason</th><th>connections</th></tr>{rows}</table>")
    if len(t.resets):
        out.append("<h3>Resets</h3>")
        cols = ["frame", "conn_id", "sender", "flags", "phase", "effect", "origin", "cause",
                "confidence", "alternatives"]
        head = "".join(f"<th>{c}</th>" for c in cols) + "<th>evidence</th>"
        body = []
        for r in t.resets.to_pylist()[:max_resets]:
            cells = "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols)
            body.append(f"<tr>{cells}<td class='ev'>{html.escape(str(r.get('evidence', '')))}</td></tr>")
        rows_html = "\n".join(body)
        out.append(f"<table class='resets'><tr>{head}</tr>\n{rows_html}</table>")
        if len(t.resets) > max_resets:
            out.append(f"<p class='note'>… {len(t.resets) - max_resets} more resets not listed</p>")
        conn_ids = list(dict.fromkeys(int(c) for c in t.resets["conn_id"]))
        out.append("<h3>Ladders of the connections with RSTs</h3>")
        if budget is not None:
            max_ladders = max(0, min(max_ladders, budget[0]))
            budget[0] -= min(max_ladders, len(conn_ids))
        for cid in conn_ids[:max_ladders]:
            conn = t.connection(cid)
            out.append(f"<div class='ladder' id='{anchor}-c{cid}'>"
                       f"{_ladder_html(conn, max_segments, events)}</div>")
        if len(conn_ids) > max_ladders:
            out.append(f"<p class='note'>… {len(conn_ids) - max_ladders} more connections with RSTs "
                       f"not drawn (raise max_ladders)</p>")
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v)


def render_report(traces: Iterable["Trace | str | os.PathLike[str]"] = (),
                  runs: Iterable[Any] = (), *, title: str = "rstlab report",
                  max_ladders: int = 12, max_total_ladders: int = 80, max_segments: int = 40,
                  max_resets: int = 200) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    from . import __version__
    from .trace import Trace, read

    runs = list(runs)
    # (label, trace, application events to mark on its ladders)
    captures: list[tuple[str, Trace, list[Any] | None]] = []
    for t in traces:
        captures.append(("", t if isinstance(t, Trace) else read(t, errors="keep"), None))
    for run in runs:
        rt = _get(run, "trace")
        if rt is not None:
            events = _get(run, "events")
            if events is None:
                events = _get(run, "app_events")  # rstlab.lab's Run: a Table of row dicts
            captures.append((_scenario_name(run), rt, list(events) if events is not None else None))

    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>",
           f"<p class='meta'>rstlab {html.escape(__version__)}, {now}: {len(runs)} lab runs, "
           f"{len(captures)} captures</p>"]
    anchors = [f"cap{i}" for i in range(len(captures))]
    if runs:
        out.append("<h2 id='verdicts'>Verdicts</h2><table class='verdicts'><tr><th>scenario</th>"
                   "<th>claim</th><th>verdict</th><th>evidence</th></tr>")
        cap_of = {id(t): a for (_, t, _), a in zip(captures, anchors)}
        for run in runs:
            cls, text = _verdict(run)
            name = html.escape(_scenario_name(run))
            rt = _get(run, "trace")
            if rt is not None and id(rt) in cap_of:
                name = f"<a href='#{cap_of[id(rt)]}'>{name}</a>"
            out.append(f"<tr><td>{name}</td><td>{html.escape(_claim_text(run))}</td>"
                       f"<td class='{cls}'>{text}</td>"
                       f"<td class='ev'>{_evidence_html(_get(run, 'evidence'))}</td></tr>")
        out.append("</table>")
    if captures:
        out.append("<h2>Captures</h2><table class='captures'><tr><th>capture</th><th>connections</th>"
                   "<th>resets</th><th>causes</th></tr>")
        for (label, t, _), a in zip(captures, anchors):
            name = label or os.path.basename(t.path)
            causes = ", ".join(f"{k} {v}" for k, v in _count(t.resets["cause"]).items()) \
                if len(t.resets) else ""
            out.append(f"<tr><td><a href='#{a}'>{html.escape(name)}</a></td>"
                       f"<td class='num'>{len(t.connections)}</td><td class='num'>{len(t.resets)}</td>"
                       f"<td>{html.escape(causes)}</td></tr>")
        out.append("</table>")
    budget = [max_total_ladders]  # ladders are the slow, heavy part of a page
    for (label, t, events), a in zip(captures, anchors):
        out.append(_trace_section(t, a, max_ladders, max_segments, max_resets, label, events,
                                  budget))
    out.append("</body></html>\n")
    return "\n".join(out)


def write_report(path: str | os.PathLike[str],
                 traces: Iterable["Trace | str | os.PathLike[str]"] = (),
                 runs: Iterable[Any] = (), **options: Any) -> str:
    """Write one self-contained HTML page and return its path.

    - ``traces``: :class:`~rstlab.Trace` objects or capture paths (read with ``errors="keep"``).
    - ``runs``: lab runs (see the module docstring): a verdict table — scenario, claim,
      holds / differs, evidence — and each run's capture.
    - Per capture: cause counts, how connections ended, the resets with their evidence, and a
      ladder for each connection that has RSTs (at most ``max_ladders`` per capture and
      ``max_total_ladders`` in all, each of at most ``max_segments`` rows).
    """
    page = render_report(traces, runs, **options)
    p = os.fspath(path)
    with open(p, "w", encoding="utf-8") as f:
        f.write(page)
    return p
