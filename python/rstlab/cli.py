"""The ``rstlab`` command line.

Every subcommand exits with one of three statuses (listed in ``rstlab --help``):
:data:`EXIT_OK`, :data:`EXIT_FAILED` when the command ran and an expectation failed, and
:data:`EXIT_USAGE` when it could not do what was asked (bad arguments, or input it cannot use).
A reader that closes stdout early (``rstlab classify x.pcap | head -1``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import time
from typing import Any, Sequence

from .errors import LabError, PrivilegeError, RstlabError, ScenarioError, ScenarioTimeout, TraceFormatError
from .jsonout import dumps, to_jsonable
from .table import plain
from .render import agreement_markdown, claims_markdown, print_table

#: Exit statuses, the same for every subcommand.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

EPILOG = """\
exit status (every command):
  0  ok
  1  an expectation failed: a lab run failed or timed out, a claim could not be checked, the
     classifier agrees with the kernel on fewer than 95 % of the RSTs, a conformance test failed,
     fewer than 90 % of the RSTs given confidence >= 0.9 are right (calibrate)
  2  usage error or input that cannot be used: bad arguments, an unknown scenario or parameter,
     a missing privilege, a capture that is missing, unreadable or damaged (for a damaged
     capture the output still holds everything read before the damage, and stderr says where)
A reader that closes the output early (`rstlab classify x.pcap | head -1`) ends the command
quietly, with status 0.
"""

CONN_COLUMNS = ["conn_id", "orig_addr", "orig_port", "resp_addr", "resp_port", "orig_pkts",
                "resp_pkts", "orig_bytes", "resp_bytes", "conn_state", "history"]


def _rows(table: Any) -> list[dict[str, Any]]:
    # Times become text and durations integers at the Arrow level (rstlab.table.plain): exact
    # to the nanosecond, with or without pandas.
    rows: list[dict[str, Any]] = to_jsonable(plain(table.to_arrow()).to_pylist())
    return rows


def _emit(doc: Any, compact: bool = False) -> None:
    """Write one JSON document (built whole first: a failure leaves stdout empty)."""
    sys.stdout.write(dumps(doc, compact=compact))


def exit_status(e: BaseException) -> int:
    """The exit status of a command that failed with ``e`` (see :data:`EPILOG`)."""
    if isinstance(e, (LabError, ScenarioTimeout)):  # a run went wrong (LabError is an OSError too)
        return EXIT_FAILED
    if isinstance(e, (ScenarioError, PrivilegeError, TraceFormatError, OSError)):
        return EXIT_USAGE
    return EXIT_FAILED


def _say_damage(e: Exception) -> None:
    """Say on stderr why a capture was read only in part — unless the log already did (the
    Rust reader logs damage to ``rstlab.trace``, shown with ``--log-level warning``)."""
    if not logging.getLogger("rstlab.trace").isEnabledFor(logging.WARNING):
        print(f"rstlab: {e}", file=sys.stderr)


def cmd_parquet(args: argparse.Namespace) -> int:
    """``classify --format parquet -o DIR``: the Hive-partitioned dataset of rstlab.parquet."""
    from .parquet import write_dataset

    if not args.output:
        print("rstlab: --format parquet writes a dataset directory: give it with -o DIR", file=sys.stderr)
        return EXIT_USAGE
    done = write_dataset(args.files, args.output, jobs=args.jobs, progress=args.progress,
                         verify_checksums=args.verify_checksums)
    status = EXIT_OK
    for w in done:
        if w.error is not None:
            # A damaged capture keeps what was read before the damage (also when skipped: the
            # manifest kept its message), an unreadable one nothing: both are input it cannot use.
            print(f"rstlab: {w.path}: {w.error}" if w.path not in w.error else f"rstlab: {w.error}",
                  file=sys.stderr)
            status = EXIT_USAGE
    n = {k: sum(w.status == k for w in done) for k in ("written", "skipped", "failed")}
    print(f"rstlab: {args.output}: {n['written']} captures written, {n['skipped']} skipped (their contents "
          f"are there already), {n['failed']} failed", file=sys.stderr)
    return status


def cmd_classify(args: argparse.Namespace) -> int:
    from . import read

    if args.format == "parquet":
        return cmd_parquet(args)
    status = EXIT_OK
    docs: list[dict[str, Any]] = []
    header_written = False
    for path in args.files:
        try:
            t = read(path, errors="keep", progress=args.progress, verify_checksums=args.verify_checksums)
        except (OSError, RstlabError) as e:
            print(f"rstlab: {e}", file=sys.stderr)
            status = max(status, exit_status(e))
            continue
        table = t.resets if args.table == "resets" else t.connections
        if args.format == "json":
            doc: dict[str, Any] = {"file": path, "connections": _rows(t.connections),
                                   "resets": _rows(t.resets), "counts": t.counts}
            if t.error is not None:
                doc["error"] = {"message": str(t.error), "offset": getattr(t.error, "offset", None)}
            docs.append(doc)
        elif args.format == "jsonl":
            # A line is a row of --table, tagged with its capture (schemas/classify.line.json).
            sys.stdout.writelines(dumps({"capture": path, **row}, compact=True) for row in _rows(table))
        elif args.format == "csv":
            # One header for every capture, led by the column that says which capture a row is from.
            w = csv.writer(sys.stdout)
            if not header_written:
                w.writerow(["capture", *table.columns])
                header_written = True
            # A list cell (`alternatives`) is one comma-separated field.
            w.writerows([path, *(",".join(v) if isinstance(v, list) else v for v in row.values())]
                        for row in _rows(table))
        else:
            print(f"# {path}: {len(t.connections)} connections, {t.counts['tcp']} TCP segments of "
                  f"{t.counts['frames']} frames")
            print_table(_rows(t.connections), CONN_COLUMNS)
            if len(t.resets):
                print()
                print_table(_rows(t.resets), ["frame", "conn_id", "sender", "flags", "phase",
                                              "cause", "origin", "effect", "evidence"])
        if t.error is not None:
            _say_damage(t.error)
            status = max(status, exit_status(t.error))
    if args.format == "json" and (docs or len(args.files) > 1):
        # One capture: its object; several: an array (schemas/classify.json).
        _emit(docs[0] if len(args.files) == 1 else docs, args.compact)
    return status


def cmd_report(args: argparse.Namespace) -> int:
    from . import read
    from .report import write_report

    status = 0
    traces = []
    for path in args.files:
        try:
            t = read(path, errors="keep", progress=args.progress)
        except (OSError, RstlabError) as e:
            print(f"rstlab: {e}", file=sys.stderr)
            status = max(status, exit_status(e))
            continue
        if t.error is not None:
            _say_damage(t.error)
            status = max(status, exit_status(t.error))
        traces.append(t)
    # Lab runs join here once the lab is merged (`--run SCENARIO` / `--all-scenarios`).
    out = write_report(args.output, traces=traces, runs=[], title=args.title,
                       max_ladders=args.max_ladders, max_segments=args.max_segments)
    print(f"rstlab: wrote {out} ({len(traces)} captures)", file=sys.stderr)
    return status


def cmd_scenarios(args: argparse.Namespace) -> int:
    from .lab import scenarios

    rows: list[dict[str, Any]] = [{**s, "sysctls": [{"host": h, "key": k, "value": v} for h, k, v in s["sysctls"]]}
                                  for s in scenarios()]
    if args.format == "json":
        _emit(rows)
    else:
        print_table([{**r, "needs": ",".join(r["needs"]), "ip_versions": ",".join(map(str, r["ip_versions"]))}
                     for r in rows], ["name", "family", "claim", "ip_versions", "needs", "intent"])
    return 0


def _run_line(r: Any) -> str:
    # Identical RSTs (s12_release resets a hundred connections alike) are counted, not repeated.
    seen: dict[str, int] = {}
    for x in r.resets:
        k = f"{x['host']} {x['flags']} {x['cause']}" + (f" [kernel {x['kernel_reason']}]" if x["kernel_reason"] else "")
        seen[k] = seen.get(k, 0) + 1
    causes = "; ".join(k if n == 1 else f"{k} ×{n}" for k, n in seen.items()) or "no RST"
    v = f" {r.claim}: {r.verdict}" if r.verdict else ""
    return f"{r.scenario} v{r.ip_version}{v} — {causes}"


def _failed(runs: list[Any]) -> int:
    """Report the runs that failed on stderr; the exit status they call for."""
    status = EXIT_OK
    for r in runs:
        if isinstance(r, Exception):
            print(f"rstlab: {r}", file=sys.stderr)
            status = max(status, exit_status(r))
    return status


def cmd_run(args: argparse.Namespace) -> int:
    from . import lab

    started = time.monotonic()
    if args.all or not args.name:
        runs = lab.run_all(ip_versions=args.ip or (4, 6), progress=not args.quiet and args.format != "json",
                           keep_dir=args.keep, parallel=args.parallel)
    else:
        kw = dict(p.split("=", 1) for p in args.param)
        runs = [lab.run(args.name, v, keep_dir=args.keep, **kw) for v in (args.ip or (4,))]
    wall = time.monotonic() - started
    status = _failed(runs)
    docs = []
    for r in runs:
        if isinstance(r, Exception):
            continue
        if args.output and len(runs) == 1:
            r.write_pcapng(args.output)
        if args.format == "json":
            docs.append(r.to_dict())
        else:
            print(_run_line(r))
            if args.verbose:
                print(f"  evidence: {r.evidence}")
                print(r.connection(0).ladder() if len(r.trace.connections) else "  (no TCP)")
    if args.format == "json":
        # One run: its object; --all or several IP versions: an array (schemas/run.json).
        _emit(docs if (args.all or not args.name or len(runs) != 1) else docs[0])
    else:
        ok = sum(not isinstance(r, Exception) for r in runs)
        par = f", {args.parallel} at a time" if len(runs) > 1 else ""
        print(f"# {ok} of {len(runs)} runs in {wall:.1f} s wall time{par}")
    return status


def _disagreements(runs: list[Any]) -> dict[tuple[str, str], Any]:
    """The first run showing each (kernel reason, cause) pair that disagrees."""
    found: dict[tuple[str, str], Any] = {}
    for r in runs:
        if isinstance(r, Exception):
            continue
        for x in r.resets:
            if x["agrees"] is False:
                found.setdefault((x["kernel_reason"], x["cause"]), r)
    return found


def _shrink_all(runs: list[Any], out: str, budget: int, quiet: bool) -> list[dict[str, Any]]:
    """Shrink one program per disagreement pair; write `<reason>--<cause>.json` + `.pcapng`."""
    import json

    from . import lab

    os.makedirs(out, exist_ok=True)
    made = []
    for (reason, cause), r in sorted(_disagreements(runs).items()):
        name = f"{reason.lower()}--{cause}"
        if os.path.exists(os.path.join(out, f"{name}.json")):
            continue  # one fixture per disagreement: an earlier seed already made it
        s = lab.shrink(r.program, reason, cause, budget=budget)
        s["program"]["id"] = name
        path = os.path.join(out, f"{name}.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(s["program"], indent=1) + "\n")
        again = lab.replay(path)
        again.write_pcapng(os.path.join(out, f"{name}.pcapng"))
        held = any(x["kernel_reason"] == reason and x["cause"] == cause for x in again.resets)
        made.append({"fixture": path, "from": r.scenario, "kernel_reason": reason, "cause": cause, "runs": s["runs"],
                     "steps_before": s["steps_before"], "steps_after": s["steps_after"], "replay_shows_it": held})
        if not quiet:
            print(f"# shrunk {r.scenario} ({reason} called {cause}): {s['steps_before']} -> {s['steps_after']} steps "
                  f"in {s['runs']} runs -> {path}" + ("" if held else " (its replay did not show it again: timing)"),
                  file=sys.stderr)
    return made


def cmd_generate(args: argparse.Namespace) -> int:
    from . import lab
    from .generated import format_summary, summary

    started = time.monotonic()
    if args.replay:
        runs: list[Any] = [lab.replay(args.replay)]
    else:
        runs = lab.generate(args.count, args.seed, workers=args.workers, out=args.out,
                            progress=not args.quiet and args.format != "json")
    wall = time.monotonic() - started
    status = _failed(runs)
    ok = [r for r in runs if not isinstance(r, Exception)]
    if args.replay and args.out:
        lab.write_corpus(args.out, ok)
    s = summary([r.to_dict() for r in ok], errors=len(runs) - len(ok), wall=wall)
    if args.shrink:
        s["shrunk"] = _shrink_all(runs, args.fixtures or os.path.join(args.out or ".", "shrunk"), args.budget,
                                  args.quiet)
    if args.format == "json":
        _emit([r.to_dict() for r in ok])
        print(format_summary(s), file=sys.stderr)
    else:
        for r in ok:
            print(_run_line(r))
        print(format_summary(s))
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as f:
            f.write(dumps(s))
    return status


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .generated import BINS, format_reliability, load_corpus, rejudge, reliability

    try:
        bins = [float(b) for b in args.bins.split(",")] if args.bins else list(BINS)
    except ValueError:
        print(f"rstlab: --bins takes comma-separated numbers, got {args.bins!r}", file=sys.stderr)
        return EXIT_USAGE
    docs = [d for directory in args.dirs for d in rejudge(load_corpus(directory))]
    try:
        rel = reliability(docs, bins)
    except ValueError as e:
        print(f"rstlab: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        _emit(rel)
    else:
        sys.stdout.write(format_reliability(rel))
    high = rel["high"]["rate"]
    return EXIT_OK if high is None or high >= rel["high"]["threshold"] else EXIT_FAILED


def cmd_claims(args: argparse.Namespace) -> int:
    from . import lab

    runs = lab.run_all(names=args.scenario or None, progress=not args.quiet)
    status = _failed(runs)
    rows = lab.claims(runs)
    if args.format == "json":
        _emit(rows)
    else:
        sys.stdout.write(claims_markdown(rows))
    return status


def cmd_agreement(args: argparse.Namespace) -> int:
    from . import lab

    if lab.mode() not in ("root", None):
        # Without the kernel oracle there is nothing to agree with (a None mode raises below).
        print('rstlab: the agreement compares the classifier with the kernel\'s reasons, which need '
              'real root: sudo "$(which python)" -m rstlab agreement', file=sys.stderr)
        return EXIT_USAGE
    runs = lab.run_all(names=args.scenario or None, progress=not args.quiet)
    status = _failed(runs)
    a = lab.agreement(runs)
    if args.format == "json":
        _emit(a)
    else:
        sys.stdout.write(agreement_markdown(a))
    return status or (EXIT_OK if a["share"] is not None and a["share"] >= 0.95 else EXIT_FAILED)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rstlab", description="Explain TCP resets.", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"rstlab {_version()}")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="warning",
                   help="what the rstlab.* loggers show on stderr (default: warning — skipped link types, "
                        "damaged records, runs without the kernel oracle; info adds malformed-frame counts)")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("classify", help="read captures: connections (and every RST explained)")
    c.add_argument("files", nargs="+", help="pcap or pcapng files (with --format parquet also directories and globs)")
    c.add_argument("--format", choices=["table", "json", "jsonl", "csv", "parquet"], default="table",
                   help="json: one document for all the files; jsonl: one line per row of --table, "
                        "with a `capture` field; csv: one header, a leading `capture` column; "
                        "parquet: a Hive-partitioned dataset in -o DIR (resets, connections, zeek_conns, "
                        "captures; a partition per capture, named by its SHA-256; captures already "
                        "there are skipped)")
    c.add_argument("--table", choices=["connections", "resets"], default="connections",
                   help="which table --format csv / jsonl prints")
    c.add_argument("--compact", action="store_true", help="one-line JSON")
    c.add_argument("-o", "--output", metavar="DIR", help="the dataset directory of --format parquet")
    c.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="captures read at a time with --format parquet (default: every core)")
    c.add_argument("--verify-checksums", action="store_true")
    c.add_argument("--progress", action="store_true", help="progress bar (tqdm's when installed)")
    c.set_defaults(func=cmd_classify)
    # `connections` reads the same way; kept as the trace engine's own name for the command.
    c2 = sub.add_parser("connections", help="same as classify")
    for a in c._actions[1:]:
        c2._add_action(a)
    c2.set_defaults(func=cmd_classify)

    s = sub.add_parser("scenarios", help="list the lab's scenario catalogue")
    s.add_argument("--format", choices=["table", "json"], default="table")
    s.set_defaults(func=cmd_scenarios)

    r = sub.add_parser("run", help="run lab scenarios (as root with the kernel's reasons; as a user in a user namespace, without them)")
    r.add_argument("name", nargs="?", help="scenario name (omit with --all)")
    r.add_argument("--all", action="store_true", help="the whole catalogue, IPv4 and IPv6")
    r.add_argument("--ip", type=int, action="append", choices=[4, 6], help="IP version (repeatable)")
    r.add_argument("--param", action="append", default=[], metavar="K=V", help="scenario parameter")
    r.add_argument("--format", choices=["table", "json"], default="table")
    r.add_argument("-o", "--output", help="write the capture (pcapng, causes as comments)")
    r.add_argument("--keep", help="keep every run's pcapng in this directory")
    r.add_argument("-v", "--verbose", action="store_true", help="evidence and a ladder per run")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.add_argument("-j", "--parallel", type=int, default=8, metavar="N",
                   help="runs at a time (default 8: runs mostly wait on TCP timers, not the CPU)")
    r.set_defaults(func=cmd_run)

    g = sub.add_parser("generate", help="random socket programs plus faults from a seed, run on the real kernel, every RST labelled by it (root)")
    g.add_argument("--count", type=int, default=20, metavar="N", help="programs to draw and run (default 20)")
    g.add_argument("--seed", type=int, default=0, metavar="S", help="the seed: same seed, same programs (default 0)")
    g.add_argument("--workers", type=int, default=None, metavar="W", help="programs at a time (default: the number of cores)")
    g.add_argument("--format", choices=["table", "json"], default="table",
                   help="json: an array of runs (schemas/run.json, each with its `program`); the summary goes to stderr")
    g.add_argument("--out", metavar="DIR", help="write a corpus: <id>.pcapng per program and labels.jsonl")
    g.add_argument("--replay", metavar="FILE", help="run the program in this JSON file instead of drawing")
    g.add_argument("--shrink", action="store_true", help="shrink one program per disagreement (kernel reason, cause) and write it as a fixture")
    g.add_argument("--fixtures", metavar="DIR", help="where --shrink writes (default DIR/shrunk of --out, or ./shrunk)")
    g.add_argument("--budget", type=int, default=60, metavar="RUNS", help="runs a shrink may make (default 60)")
    g.add_argument("--summary", metavar="FILE", help="also write the summary as JSON")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=cmd_generate)

    ca = sub.add_parser("calibrate", help="the classifier's confidence against generated corpora's kernel labels: the reliability table (no privilege)")
    ca.add_argument("dirs", nargs="+", metavar="DIR", help="corpus directories written by `rstlab generate --out DIR`")
    ca.add_argument("--bins", metavar="EDGES", help="comma-separated bin edges within 0..1 (default 0,0.3,0.5,0.6,0.7,0.8,0.9,1)")
    ca.add_argument("--format", choices=["text", "json"], default="text")
    ca.set_defaults(func=cmd_calibrate)

    cl = sub.add_parser("claims", help="check the source text's claims S1-S12 on this kernel")
    cl.add_argument("--format", choices=["markdown", "json"], default="markdown")
    cl.add_argument("-q", "--quiet", action="store_true")
    cl.add_argument("-s", "--scenario", action="append", metavar="NAME", help="only this scenario (repeatable)")
    cl.set_defaults(func=cmd_claims)

    ag = sub.add_parser("agreement", help="classifier vs the kernel's reasons over the catalogue (root)")
    ag.add_argument("--format", choices=["markdown", "json"], default="markdown")
    ag.add_argument("-q", "--quiet", action="store_true")
    ag.add_argument("-s", "--scenario", action="append", metavar="NAME", help="only this scenario (repeatable)")
    ag.set_defaults(func=cmd_agreement)

    cf = sub.add_parser("conform", help="the conformance suite: claims S1-S12 and the RFC rules on this kernel (real root: it checks the kernel's reasons)")
    cf.add_argument("pytest_args", nargs="*", help="extra pytest arguments")
    cf.set_defaults(func=cmd_conform)

    d = sub.add_parser("demo", help="the main job: run the catalogue, classify captures, write the report")
    d.add_argument("--out", default="out", help="output directory")
    d.add_argument("files", nargs="*", help="extra captures to classify")
    d.set_defaults(func=cmd_demo)

    rp = sub.add_parser("report", help="one self-contained HTML page: causes, resets, ladders")
    rp.add_argument("files", nargs="*", help="pcap or pcapng files")
    rp.add_argument("-o", "--output", default="report.html", help="HTML file to write")
    rp.add_argument("--title", default="rstlab report")
    rp.add_argument("--max-ladders", type=int, default=12, help="ladders drawn per capture")
    rp.add_argument("--max-segments", type=int, default=40, help="rows per ladder")
    rp.add_argument("--progress", action="store_true", help="progress bar (tqdm's when installed)")
    rp.set_defaults(func=cmd_report)

    from .live import add_parser as add_watch_parser

    add_watch_parser(sub)
    return p


def cmd_conform(args: argparse.Namespace) -> int:
    import subprocess

    # A fresh interpreter: pytest must import rstlab itself (assertion rewriting, plugins).
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "rstlab.conformance", "-q", "-p", "no:cacheprovider",
           *args.pytest_args]
    # pytest's own statuses, in ours: tests failed → 1, pytest's usage error → 2, Ctrl-C → 130.
    code = subprocess.call(cmd)
    return {0: EXIT_OK, 1: EXIT_FAILED, 2: 130, 4: EXIT_USAGE}.get(code, EXIT_FAILED)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import demo

    return demo(args.out, args.files)


def _version() -> str:
    """The installed package's version (its metadata), else the extension's own."""
    from importlib import metadata

    try:
        return metadata.version("rstlab")
    except metadata.PackageNotFoundError:
        from . import __version__

        return __version__


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    # The command's own handler, gone when it returns (main() may run in a larger program).
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("rstlab: %(message)s"))
    logger = logging.getLogger("rstlab")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(args.log_level.upper())
    try:
        return int(args.func(args))
    except (RstlabError, OSError) as e:
        if isinstance(e, BrokenPipeError):
            raise
        print(f"rstlab: {e}", file=sys.stderr)
        return exit_status(e)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        status = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here at the latest, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader has all it wanted (`| head`): stop quietly. Python would flush stdout again
        # at exit and fail the same way, so stdout becomes /dev/null first (the recipe of the
        # docs of the signal module, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("rstlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
