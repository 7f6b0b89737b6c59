"""Generated corpora: their labels file, loading them back, and the summary of a generated run.

Runs themselves are made by :func:`rstlab.lab.generate`; this module only reads and writes the
plain data (``Run.to_dict()`` documents), so tests and notebooks can load a corpus without
running anything (and without privileges).

A corpus directory holds, per program, ``<id>.pcapng`` (the capture, each RST commented with
its cause and the kernel's reason), and one ``labels.jsonl`` with a line per program::

    {"id": "gen-1-0", "pcapng": "gen-1-0.pcapng", "program": {...},
     "resets": [{"frame": 7, "host": "server", "kernel_reason": "NO_SOCKET",
                 "kernel_state": "UNKNOWN", "stack_sent": true, "cause": "no_connection",
                 "kernel_cause": "no_connection", "agrees": true, "confidence": 0.9}, ...]}

``frame`` is 1-based over the client-side interface, as the classifier numbers frames.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any, Iterable, Mapping

__all__ = ["LABELS", "BINS", "label_line", "write_labels", "load_corpus", "rejudge", "summary", "format_summary",
           "right", "reliability", "format_reliability"]

#: The labels file of a corpus directory.
LABELS = "labels.jsonl"

#: The reliability table's default bin edges (the last bin includes 1.0).
BINS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

#: The confidence from which a verdict is "high": of those RSTs, at least 90 % should be right.
HIGH = 0.9

_RESET_KEYS = ("frame", "host", "kernel_reason", "kernel_state", "stack_sent", "cause", "kernel_cause", "agrees",
               "confidence")


def label_line(doc: Mapping[str, Any], pcapng: str | None) -> dict[str, Any]:
    """One program's line of ``labels.jsonl`` from its run document."""
    return {"id": doc["scenario"], "pcapng": pcapng, "program": doc.get("program"),
            "resets": [{k: r.get(k) for k in _RESET_KEYS} for r in doc["resets"]]}


def write_labels(out: str | os.PathLike[str], lines: Iterable[Mapping[str, Any]]) -> str:
    """Write ``labels.jsonl`` into ``out``; returns its path."""
    path = os.path.join(os.fspath(out), LABELS)
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, sort_keys=True) + "\n")
    return path


def load_corpus(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """A corpus written by ``rstlab generate --out DIR``: one dict per program (``id``,
    ``program``, ``resets`` with the kernel's labels), ``pcapng`` made an absolute path.
    Raises ``FileNotFoundError`` (with the filename) when ``DIR/labels.jsonl`` is missing."""
    d = os.fspath(directory)
    out: list[dict[str, Any]] = []
    with open(os.path.join(d, LABELS), encoding="utf-8") as f:
        for n, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                line: dict[str, Any] = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"{os.path.join(d, LABELS)} line {n}: {e}") from None
            if line.get("pcapng"):
                line["pcapng"] = os.path.join(d, line["pcapng"])
            out.append(line)
    return out


def rejudge(corpus: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A loaded corpus (:func:`load_corpus`) judged again by this classifier: each program's
    capture is read again and every labelled RST gets the classifier's ``cause``,
    ``confidence`` and ``alternatives`` now, the cause its kernel label implies with the wire facts read now
    (``kernel_cause``) and ``agrees``. The kernel's labels (``kernel_reason``,
    ``kernel_state``, ``stack_sent``) are kept as recorded. No privilege needed."""
    from . import _rstlab

    out: list[dict[str, Any]] = []
    for line in corpus:
        labels = {int(r["frame"]): (r["kernel_reason"], r.get("kernel_state"))
                  for r in line["resets"] if r.get("kernel_reason")}
        judged = {frame: (cause, conf, kcause, alts)
                  for frame, cause, conf, kcause, alts in _rstlab.judge_labelled(line["pcapng"], labels)}
        resets = []
        for r in line["resets"]:
            r = dict(r)
            j = judged.get(int(r["frame"]))
            if j is not None:
                r["cause"], r["confidence"], r["kernel_cause"], r["alternatives"] = j
                r["agrees"] = None if r["kernel_cause"] is None else r["kernel_cause"] == r["cause"]
            resets.append(r)
        out.append({**line, "resets": resets})
    return out


def summary(docs: Iterable[Mapping[str, Any]], *, errors: int = 0, wall: float | None = None) -> dict[str, Any]:
    """Counts over generated runs' documents (or corpus lines: anything with ``resets``):
    programs, RSTs, stack-made / not / unknown (no oracle), the kernel reasons' histogram,
    and the agreement of the classifier's cause with the cause the kernel's reason implies,
    with every (kernel reason, cause) pair that disagreed."""
    docs = list(docs)
    resets = [r for d in docs for r in d["resets"]]
    stack = [r for r in resets if r.get("stack_sent") is True]
    judged = [r for r in resets if r.get("agrees") is not None]
    confusion = Counter((r["kernel_reason"], r["kernel_cause"], r["cause"]) for r in judged if not r["agrees"])
    agree = sum(1 for r in judged if r["agrees"])
    return {
        "programs": len(docs),
        "errors": errors,
        "rsts": len(resets),
        "stack_made": len(stack),
        "not_stack_made": sum(1 for r in resets if r.get("stack_sent") is False),
        "unlabelled": sum(1 for r in resets if r.get("stack_sent") is None),
        "reasons": dict(sorted(Counter(r["kernel_reason"] for r in stack if r.get("kernel_reason")).items())),
        "judged": len(judged),
        "agree": agree,
        "agreement": (agree / len(judged)) if judged else None,
        "confusion": [{"kernel_reason": k, "kernel_cause": kc, "cause": c, "count": n}
                      for (k, kc, c), n in confusion.most_common()],
        "wall_seconds": wall,
    }


def format_summary(s: Mapping[str, Any]) -> str:
    """The summary as the text ``rstlab generate`` prints."""
    lines = [f"# {s['programs']} programs ({s['errors']} failed), {s['rsts']} RSTs: {s['stack_made']} stack-made, "
             f"{s['not_stack_made']} not stack-made, {s['unlabelled']} without the kernel oracle"]
    lines.append(f"# {len(s['reasons'])} distinct kernel reasons:")
    lines += [f"#   {k:<28} {v}" for k, v in sorted(s["reasons"].items(), key=lambda kv: -kv[1])]
    if s["agreement"] is not None:
        lines.append(f"# cause vs kernel reason: {s['agree']}/{s['judged']} agree ({100 * s['agreement']:.1f} %)")
    for c in s["confusion"]:
        lines.append(f"#   {c['count']:>4} x kernel {c['kernel_reason']} (implies {c['kernel_cause']}) called {c['cause']}")
    if s.get("wall_seconds") is not None:
        lines.append(f"# wall time {s['wall_seconds']:.1f} s ({s['wall_seconds'] / 60:.2f} min)")
    return "\n".join(lines)


def right(r: Mapping[str, Any]) -> bool | None:
    """Whether a labelled RST's ``cause`` is right: a stack-made RST (``stack_sent`` true) iff
    it is the cause its kernel reason implies (``kernel_cause``); a forged one (``host``
    ``forger``) iff it is ``injected``. None when nothing says what is right: another RST the
    stack did not make (a firewall's or a router's ``reject with tcp reset`` answers for a host
    it is not), or one without the kernel oracle."""
    if r.get("stack_sent") is True and r.get("kernel_cause"):
        return bool(r["cause"] == r["kernel_cause"])
    if r.get("stack_sent") is False and r.get("host") == "forger":
        return bool(r["cause"] == "injected")
    return None


def _rate(n: int, of: int) -> dict[str, Any]:
    return {"count": n, "of": of, "rate": (n / of) if of else None}


def reliability(docs: Iterable[Mapping[str, Any]], bins: Iterable[float] = BINS) -> dict[str, Any]:
    """The classifier's confidence against the kernel's labels, over rejudged corpora
    (:func:`rejudge`): per confidence bin the RSTs, their mean confidence and the share right
    (:func:`right`; bins are ``[lo, hi)``, the last ``[lo, hi]``); the share right at
    confidence >= 0.9; the same for RSTs with and without ``alternatives``; forged RSTs called
    ``injected`` and stack-made ones called ``injected``; and :func:`summary` (agreement on
    stack-made RSTs and its confusion). RSTs :func:`right` cannot judge are counted, not scored."""
    docs = list(docs)
    edges = sorted(set(float(b) for b in bins))
    if len(edges) < 2 or edges[0] < 0 or edges[-1] > 1:
        raise ValueError(f"bins must be at least two edges within 0..1, got {edges}")
    resets = [r for d in docs for r in d["resets"]]
    # Confidences are sums of tenths: round off float noise before comparing with an edge.
    scored = [(round(float(r["confidence"]), 9), ok, bool(r.get("alternatives")))
              for r in resets if (ok := right(r)) is not None]
    table = []
    for i, (lo, hi) in enumerate(zip(edges, edges[1:])):
        last = i == len(edges) - 2
        inside = [(c, ok) for c, ok, _ in scored if lo <= c and (c < hi or (last and c <= hi))]
        n = len(inside)
        table.append({"lo": lo, "hi": hi, "rsts": n,
                      "mean_confidence": (sum(c for c, _ in inside) / n) if n else None,
                      "accuracy": (sum(ok for _, ok in inside) / n) if n else None})
    high = [ok for c, ok, _ in scored if c >= HIGH]
    alts = [ok for _, ok, a in scored if a]
    alone = [ok for _, ok, a in scored if not a]
    stack = [r for r in resets if r.get("stack_sent") is True]
    forged = [r for r in resets if r.get("stack_sent") is False and r.get("host") == "forger"]
    return {
        "scored": len(scored),
        "right": sum(ok for _, ok, _ in scored),
        "not_scored": len(resets) - len(scored),
        "not_stack_made_other": sum(1 for r in resets if r.get("stack_sent") is False and r.get("host") != "forger"),
        "bins": table,
        "high": {"threshold": HIGH, **_rate(sum(high), len(high))},
        "with_alternatives": _rate(sum(alts), len(alts)),
        "without_alternatives": _rate(sum(alone), len(alone)),
        "forged_called_injected": _rate(sum(r["cause"] == "injected" for r in forged), len(forged)),
        "stack_made_called_injected": _rate(sum(r["cause"] == "injected" for r in stack), len(stack)),
        "summary": summary(docs),
    }


def _pct(x: Mapping[str, Any]) -> str:
    return "-" if x["rate"] is None else f"{x['count']}/{x['of']} = {100 * x['rate']:.1f} %"


def format_reliability(rel: Mapping[str, Any]) -> str:
    """The reliability table and its companions as the text ``rstlab calibrate`` prints."""
    other = rel["not_stack_made_other"]
    lines = [f"# {rel['scored']} RSTs scored ({rel['right']} right); {rel['not_scored']} not scored: {other} made by "
             f"neither a TCP stack nor the forger, {rel['not_scored'] - other} without the kernel oracle",
             "", "| confidence | RSTs | mean confidence | accuracy |", "|---|---:|---:|---:|"]
    for b in rel["bins"]:
        close = "]" if b is rel["bins"][-1] else ")"
        mean = "-" if b["mean_confidence"] is None else f"{b['mean_confidence']:.3f}"
        acc = "-" if b["accuracy"] is None else f"{100 * b['accuracy']:.1f} %"
        lines.append(f"| [{b['lo']:.2f}, {b['hi']:.2f}{close} | {b['rsts']} | {mean} | {acc} |")
    lines += ["",
              f"right at confidence >= {rel['high']['threshold']}: {_pct(rel['high'])}",
              f"right with alternatives: {_pct(rel['with_alternatives'])}; without: {_pct(rel['without_alternatives'])}",
              f"forged RSTs called injected: {_pct(rel['forged_called_injected'])}",
              f"stack-made RSTs called injected: {_pct(rel['stack_made_called_injected'])}",
              "", format_summary(rel["summary"])]
    return "\n".join(lines) + "\n"
