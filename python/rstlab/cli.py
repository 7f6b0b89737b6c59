"""The ``rstlab`` command line."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from typing import Any, Sequence

from .errors import RstlabError, TraceFormatError

CONN_COLUMNS = ["conn_id", "orig_addr", "orig_port", "resp_addr", "resp_port", "orig_pkts",
                "resp_pkts", "orig_bytes", "resp_bytes", "conn_state", "history"]


def _clean(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _rows(table: Any) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in r.items()} for r in table.to_pylist()]


def print_table(rows: list[dict[str, Any]], columns: list[str], out: Any = sys.stdout) -> None:
    """Plain aligned text columns."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")


def cmd_classify(args: argparse.Namespace) -> int:
    from . import read

    status = 0
    for path in args.files:
        try:
            t = read(path, errors="keep", progress=args.progress, verify_checksums=args.verify_checksums)
        except OSError as e:
            print(f"rstlab: {e}", file=sys.stderr)
            status = 1
            continue
        tables = {"connections": t.connections}
        resets = getattr(t, "resets", None)
        if resets is not None:
            tables["resets"] = resets
        if args.format == "json":
            doc: dict[str, Any] = {name: _rows(tbl) for name, tbl in tables.items()}
            doc["file"] = path
            doc["counts"] = t.counts
            if t.error is not None:
                doc["error"] = {"message": str(t.error), "offset": t.error.offset}
            json.dump(doc, sys.stdout, indent=None if args.compact else 1)
            sys.stdout.write("\n")
        elif args.format == "csv":
            name = "resets" if args.table == "resets" else "connections"
            tbl = tables.get(name)
            if tbl is None:
                print(f"rstlab: no {name} table", file=sys.stderr)
                return 2
            rows = _rows(tbl)
            w = csv.DictWriter(sys.stdout, fieldnames=tbl.columns)
            w.writeheader()
            w.writerows(rows)
        else:
            print(f"# {path}: {len(t.connections)} connections, {t.counts['tcp']} TCP segments of "
                  f"{t.counts['frames']} frames")
            print_table(_rows(t.connections), CONN_COLUMNS)
            if "resets" in tables and len(tables["resets"]):
                print()
                print_table(_rows(tables["resets"]), ["frame", "conn_id", "sender", "flags", "phase",
                                                      "cause", "origin", "effect", "evidence"])
        if t.error is not None:
            print(f"rstlab: {t.error}", file=sys.stderr)
            status = 1
    return status


def cmd_report(args: argparse.Namespace) -> int:
    from . import read
    from .report import write_report

    status = 0
    traces = []
    for path in args.files:
        try:
            t = read(path, errors="keep", progress=args.progress)
        except OSError as e:
            print(f"rstlab: {e}", file=sys.stderr)
            status = 1
            continue
        if t.error is not None:
            print(f"rstlab: {t.error}", file=sys.stderr)
            status = 1
        traces.append(t)
    # Lab runs join here once the lab is merged (`--run SCENARIO` / `--all-scenarios`).
    out = write_report(args.output, traces=traces, runs=[], title=args.title,
                       max_ladders=args.max_ladders, max_segments=args.max_segments)
    print(f"rstlab: wrote {out} ({len(traces)} captures)", file=sys.stderr)
    return status


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rstlab", description="Explain TCP resets.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("classify", help="read captures: connections (and every RST explained)")
    c.add_argument("files", nargs="+", help="pcap or pcapng files")
    c.add_argument("--format", choices=["table", "json", "csv"], default="table")
    c.add_argument("--table", choices=["connections", "resets"], default="connections",
                   help="which table --format csv prints")
    c.add_argument("--compact", action="store_true", help="one-line JSON")
    c.add_argument("--verify-checksums", action="store_true")
    c.add_argument("--progress", action="store_true", help="progress bar on a terminal")
    c.set_defaults(func=cmd_classify)
    # `connections` reads the same way; kept as the trace engine's own name for the command.
    c2 = sub.add_parser("connections", help="same as classify")
    for a in c._actions[1:]:
        c2._add_action(a)
    c2.set_defaults(func=cmd_classify)

    r = sub.add_parser("report", help="one self-contained HTML page: causes, resets, ladders")
    r.add_argument("files", nargs="*", help="pcap or pcapng files")
    r.add_argument("-o", "--output", default="report.html", help="HTML file to write")
    r.add_argument("--title", default="rstlab report")
    r.add_argument("--max-ladders", type=int, default=12, help="ladders drawn per capture")
    r.add_argument("--max-segments", type=int, default=40, help="rows per ladder")
    r.add_argument("--progress", action="store_true", help="progress bar on a terminal")
    r.set_defaults(func=cmd_report)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TraceFormatError as e:
        print(f"rstlab: {e}", file=sys.stderr)
        return 1
    except RstlabError as e:
        print(f"rstlab: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rstlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
