"""The lab: every kind of abnormal TCP termination, on the real Linux stack, labelled by the
kernel itself.

- :func:`scenarios` — the catalogue (name, family, claim, intent, privileges needed).
- :func:`run` — run one scenario in fresh network namespaces → :class:`Run`.
- :func:`run_all` — the whole catalogue (IPv4 and IPv6), in parallel, with a progress bar.

As root, runs read the kernel's own reason for every RST (the kernel oracle, tracepoints). As
an ordinary user, each run happens in a child process that enters a user namespace first (the
lab's namespaces, nftables and packet capture all work there): every scenario runs, with the
same causes and verdicts, but ``kernel_reason`` is ``None`` and ``oracle_note`` says why.
:func:`mode` tells which applies; where neither can, runs raise
:class:`~rstlab.errors.PrivilegeError` naming what is missing and what to run.
"""

from __future__ import annotations

import html
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, TypeVar, cast

from . import _rstlab
from ._rstlab import Sock
from .errors import PrivilegeError, RstlabError
from .generated import label_line, load_corpus, write_labels
from .rows import (Agreement, AgreementRow, AppEvent, Claim, ClaimVerdict, KernelEvent, RunDict, RunMeta,
                   RunResetRow, ScenarioInfo, WatchRow)
from .table import Table
from .trace import Connection, Trace

if TYPE_CHECKING:
    from .table import Row

__all__ = ["scenarios", "run", "run_all", "Run", "Lab", "Sock", "claims", "agreement", "privileges",
           "mode", "programs", "generate", "replay", "shrink", "load_corpus", "write_corpus"]

# An ordinary user's run happens in a child inside a user namespace (rstlab-lab's `userns`):
# this interpreter, loading this very extension by its path — not the package, so nothing else
# is imported; -I -S keep the user's environment and site hooks out of it.
_USERNS_CHILD = ("import importlib.util as u, sys; s = u.spec_from_file_location('rstlab._rstlab', sys.argv[1]); "
                 "m = u.module_from_spec(s); s.loader.exec_module(m); sys.exit(m._userns_child())")
if sys.executable and getattr(_rstlab, "__file__", None):
    _rstlab._set_userns_helper([sys.executable, "-I", "-S", "-c", _USERNS_CHILD, _rstlab.__file__])


def scenarios() -> list[ScenarioInfo]:
    """The catalogue: one dict per scenario (``name``, ``family``, ``claim``, ``statement``,
    ``intent``, ``source``, ``needs``, ``ip_versions``, ``topology``, ``capture_at``, ``sysctls``,
    ``params``, and what a run with default parameters produces: ``expect_causes``, the causes of
    its RSTs, and ``expect_kernel_reasons``, the kernel's ``tcp_send_reset`` reasons — each once,
    in order of first appearance, empty when there is no RST)."""
    return list(_rstlab.scenarios())


def mode() -> str | None:
    """How runs happen here: ``"root"`` (in this process, with the kernel's reasons),
    ``"netns"`` (in this process, already inside a user namespace: no kernel reasons),
    ``"userns"`` (each run in a child that enters a user namespace: no kernel reasons), or
    ``None`` when runs cannot happen here (:func:`privileges` says why)."""
    try:
        return _rstlab.lab_mode()
    except RstlabError:
        return None


def privileges() -> str | None:
    """``None`` when lab runs can work here (as root, or as an ordinary user inside a user
    namespace), else the reason they cannot: what works without root, what needs root, and
    the commands to run."""
    try:
        _rstlab.lab_mode()
    except RstlabError as e:
        return str(e)
    return None


def _table(rows: list[Row], name: str, times: tuple[str, ...] = ()) -> Table[Row]:
    """A table of the binding's record dicts; ``times`` are columns of integer nanoseconds since
    the epoch, made ``timestamp[ns, tz=UTC]`` like the trace tables' times."""
    import pyarrow as pa

    tbl = pa.Table.from_pylist(rows)
    for c in times:
        if c in tbl.column_names:
            i = tbl.column_names.index(c)
            tbl = tbl.set_column(i, c, tbl.column(c).cast(pa.int64()).cast(pa.timestamp("ns", tz="UTC")))
    table: Table[Row] = Table.from_arrow(tbl, name)
    return table


#: Told of every run as it is made, catalogue or composed (see :func:`observe_runs`).
_observers: list[Callable[["Run"], object]] = []


@contextmanager
def observe_runs(observer: Callable[["Run"], object]) -> Iterator[None]:
    """Call ``observer(run)`` for every run made (in any thread) inside the ``with`` block: how
    the pytest plugin keeps the captures of the runs a failing test made."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


class Run:
    """One scenario run: capture, applications' results, kernel reasons, classifier verdicts.

    A view over the native run (``rstlab._rstlab.LabRun``, the Rust ``RunResult``): plain fields
    are read from it; the tables are built once, on first use.
    """

    def __init__(self, native: _rstlab.LabRun, program: dict[str, Any] | None = None) -> None:
        self._native = native
        self._program = program
        for observer in tuple(_observers):
            observer(self)

    @property
    def scenario(self) -> str:
        return self._native.scenario

    @property
    def ip_version(self) -> int:
        return self._native.ip_version

    @property
    def duration(self) -> float:
        return self._native.duration

    @property
    def oracle_available(self) -> bool:
        return self._native.oracle_available

    @property
    def program(self) -> dict[str, Any] | None:
        """The generated program this run played (see :func:`generate`); None for a catalogue
        or composed run."""
        return self._program

    @property
    def oracle_note(self) -> str | None:
        return self._native.oracle_note

    def stream(self, settle: float = 1.0) -> list[WatchRow]:
        """This run's RSTs through ``rstlab watch``'s live path (see :func:`rstlab.live.replay`)."""
        from .live import replay

        return replay(self, settle)

    @cached_property
    def meta(self) -> RunMeta:
        """What the run was made on: ``kernel`` (``uname -r``), ``machine`` (``uname -m``),
        ``rstlab_version``, and ``sysctls`` — every ``{"host", "key", "value"}`` the run pinned
        inside its own namespaces (the scenario's declared ones, then any its steps set). The
        run's pcapng carries the same in its section header (comment, ``shb_os``,
        ``shb_userappl``)."""
        return self._native.meta  # a new dict on each access of the native attribute

    @cached_property
    def verdict(self) -> ClaimVerdict | None:
        """``"holds"`` / ``"differs"`` for the source text's claim (None if the scenario has none)."""
        v = self._native.verdict
        return None if v is None else ("holds" if v["holds"] else "differs")

    @cached_property
    def evidence(self) -> str:
        v = self._native.verdict
        return "" if v is None else v["evidence"]

    @cached_property
    def resets(self) -> Table[RunResetRow]:
        # The binding's rows have `ts` in integer ns; the table's column is a timestamp.
        rows = cast("list[RunResetRow]", self._native.resets)
        return _table(rows, "resets", times=("ts",))

    @cached_property
    def app_events(self) -> Table[AppEvent]:
        return _table(self._native.app_events, "app_events")

    @cached_property
    def kernel_events(self) -> Table[KernelEvent]:
        return _table(self._native.kernel_events, "kernel_events")

    @cached_property
    def hosts(self) -> dict[str, str]:
        return dict(self._native.hosts)

    @cached_property
    def metrics(self) -> dict[str, float]:
        return dict(self._native.metrics)

    @cached_property
    def pcapng(self) -> str | None:
        p = self._native.pcapng
        return None if p is None else os.fspath(p)

    @cached_property
    def trace(self) -> Trace:
        """The capture as the trace engine reads it (client-side interface)."""
        return Trace(f"<lab run {self.scenario} v{self.ip_version}>", _LabTables(self._native),
                     segments=Table(self._native.segments, "segments"))

    @cached_property
    def info(self) -> ScenarioInfo | dict[str, Any]:
        """The scenario's catalogue entry (see :func:`scenarios`); ``{}`` for a composed run."""
        return next((s for s in scenarios() if s["name"] == self.scenario), {})

    @property
    def claim(self) -> str | None:
        claim: str | None = self.info.get("claim")
        return claim

    def connection(self, conn_id: int = 0) -> Connection:
        """One connection of the run's capture (``conn_id`` as in Wireshark's ``tcp.stream``)."""
        return self.trace.connection(conn_id)

    def write_pcapng(self, path: str | os.PathLike[str], *, comments: bool = True,
                     all_interfaces: bool = True) -> str:
        """Write the capture as pcapng; each RST carries its cause and the kernel's reason as a
        packet comment. ``all_interfaces=False`` keeps only the client-side interface (the one
        the classifier reads: one copy of every packet)."""
        notes = {}
        for r in self.resets:
            k = r["kernel_reason"] or ("no TCP-stack event" if r["stack_sent"] is False else "no oracle")
            notes[int(r["frame"])] = (f"rstlab: {r['cause']} ({r['confidence']:.2f}) from {r['host']}; "
                                         f"kernel: {k}; {r['evidence']}")
        self._native.write_pcapng(os.fspath(path), notes if comments else {}, all_interfaces)
        return os.fspath(path)

    def to_dict(self) -> RunDict:
        """The stable JSON shape of a run (schema: ``rstlab/schemas/run.json``, docs/json.md);
        a generated run adds its ``program``."""
        d: RunDict = {
            "scenario": self.scenario,
            "ip_version": self.ip_version,
            "claim": self.claim,
            "verdict": self.verdict,
            "evidence": self.evidence,
            # Times as the table has them; the JSON encoder writes them as RFC 3339 text.
            "resets": self.resets.to_pylist(),
            "app_events": list(self._native.app_events),
            "kernel_events": list(self._native.kernel_events),
            "oracle_available": self.oracle_available,
            "oracle_note": self.oracle_note,
            "duration": self.duration,
            "metrics": self.metrics,
            "meta": self.meta,
            "pcapng": self.pcapng,
        }
        if self._program is not None:
            d["program"] = self._program
        return d

    def __repr__(self) -> str:
        causes = ", ".join(f"{r['host']}:{r['cause']}" for r in self.resets) or "no RST"
        v = f" {self.claim} {self.verdict}" if self.verdict else ""
        return f"<rstlab.Run {self.scenario} v{self.ip_version}{v}: {causes}>"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{r['frame']}</td><td>{html.escape(r['host'])}</td><td>{html.escape(r['flags'])}</td>"
            f"<td><b>{html.escape(r['cause'])}</b></td><td>{html.escape(str(r['kernel_reason']))}</td>"
            f"<td>{html.escape(r['evidence'][:160])}</td></tr>" for r in self.resets)
        apps = "".join(
            f"<tr><td>{html.escape(a['host'])}</td><td>{html.escape(a['call'])}</td><td>{html.escape(a['result'])}</td>"
            f"<td>{html.escape(str(a['errno'] or ''))}</td></tr>" for a in self.app_events)
        return (f"<p><b>{html.escape(self.scenario)}</b> (IPv{self.ip_version}) {html.escape(self.claim or '')} "
                f"<b>{html.escape(self.verdict or '')}</b>: {html.escape(self.evidence)}</p>"
                f"<table><tr><th>frame</th><th>host</th><th>flags</th><th>cause</th><th>kernel</th><th>evidence</th></tr>{rows}</table>"
                f"<table><tr><th>host</th><th>call</th><th>result</th><th>errno</th></tr>{apps}</table>")


class _LabTables:
    """Adapts a native lab run to what :class:`Trace` reads."""

    def __init__(self, native: _rstlab.LabRun) -> None:
        self._native = native
        self.connections = native.connections
        self.resets = native.reset_table
        self.counts = {"tcp": len(native.segments)}

    @property
    def zeek_conns(self) -> _rstlab.ArrowTable:
        return self._native.zeek_conns


def run(name: str, ip_version: int = 4, *, keep_dir: str | os.PathLike[str] | None = None,
        oracle: bool = True, **params: Any) -> Run:
    """Run one scenario in fresh namespaces and return what happened.

    ``params`` are the scenario's own knobs (see ``scenarios()[i]["params"]``). Raises
    :class:`~rstlab.errors.ScenarioError` for an unknown scenario or parameter and
    :class:`~rstlab.errors.PrivilegeError` (with the missing ``capability``) before building
    anything when this process cannot make namespaces.
    """
    native = _rstlab.run(name, ip_version, {k: str(v) for k, v in params.items()},
                         None if keep_dir is None else os.fspath(keep_dir), oracle)
    return Run(native)


def programs(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Programs ``0..count`` of ``seed`` (same seed, same programs), as JSON-ready dicts; see
    docs/generate.md for the format. Nothing runs."""
    return [json.loads(p) for p in _rstlab.draw_programs(seed, count)]


def _check_in_process() -> None:
    """Generated programs run in this process (a composed lab): raise the ``PrivilegeError``
    once, before any run, when this process cannot make namespaces itself."""
    if _rstlab.lab_mode() == "userns":
        raise PrivilegeError(
            "generated programs run in this process and need CAP_NET_ADMIN (real root for the kernel's "
            "reasons): run as root, or inside a user namespace (`unshare -rn rstlab generate ...`, "
            "without kernel reasons)", capability="CAP_NET_ADMIN", hint="sudo rstlab generate ...")


def replay(program: Mapping[str, Any] | str | os.PathLike[str]) -> Run:
    """Run one generated program — a dict, or the path of its JSON file — in fresh namespaces.
    Raises :class:`~rstlab.errors.ScenarioError` (a ``ValueError``) for a malformed program."""
    if isinstance(program, Mapping):
        text = json.dumps(program)
    else:
        with open(os.fspath(program), encoding="utf-8") as f:
            text = f.read()
    _check_in_process()
    native = _rstlab.run_program(text)
    return Run(native, json.loads(text))


def generate(count: int, seed: int = 0, *, workers: int | None = None,
             out: str | os.PathLike[str] | None = None,
             progress: bool | Callable[[int, int, str], object] = False) -> list[Run | RstlabError]:
    """Draw ``count`` programs from ``seed`` and run them, ``workers`` at a time (default: the
    number of cores), each in its own namespaces; every RST carries the kernel's reason (or
    ``stack_sent`` false) and the classifier's cause. A program's run has ``scenario`` =
    its id (``gen-<seed>-<i>``) and ``program`` = the program. With ``out``, writes a corpus
    there: ``<id>.pcapng`` per program and ``labels.jsonl`` (:func:`load_corpus` reads it).
    A run that failed is returned as its exception; Ctrl-C stops starting new runs."""
    progs = _rstlab.draw_programs(seed, count)
    if progs:
        _check_in_process()
    runs = _in_parallel(progs, lambda text: Run(_rstlab.run_program(text), json.loads(text)),
                        workers or os.cpu_count() or 1, progress, "generate",
                        lambda i: f"gen-{seed}-{i}")
    if out is not None:
        write_corpus(out, [r for r in runs if isinstance(r, Run)])
    return runs


def write_corpus(out: str | os.PathLike[str], runs: Iterable[Run]) -> str:
    """Write runs as a corpus in ``out``: ``<scenario>.pcapng`` each and ``labels.jsonl``;
    returns the labels file's path."""
    os.makedirs(os.fspath(out), exist_ok=True)
    lines = []
    for r in runs:
        name = f"{r.scenario}.pcapng"
        # The client-side interface only: its frame numbers are the labels' (and Wireshark's).
        r.write_pcapng(os.path.join(os.fspath(out), name), all_interfaces=False)
        lines.append(label_line(r.to_dict(), name))
    return write_labels(out, lines)


def shrink(program: Mapping[str, Any], reason: str, cause: str | None = None, *,
           budget: int = 60) -> dict[str, Any]:
    """Reduce ``program`` to the fewest steps that still make a stack-made RST with the kernel
    reason ``reason`` — classified ``cause`` and disagreeing, when ``cause`` is given. Every
    candidate is run (at most ``budget`` runs). Returns ``{"program", "runs", "steps_before",
    "steps_after"}``; the program's id gains ``-shrunk``."""
    text, runs, before, after = _rstlab.shrink_program(json.dumps(program), reason, cause, budget)
    return {"program": json.loads(text), "runs": runs, "steps_before": before, "steps_after": after}


def run_all(*, ip_versions: Iterable[int] = (4, 6), names: Iterable[str] | None = None,
            parallel: int = 8, progress: bool | Callable[[int, int, str], object] = False,
            keep_dir: str | os.PathLike[str] | None = None) -> list[Run | RstlabError]:
    """Run the catalogue (every scenario in every requested IP version), ``parallel`` at a time.

    Each scenario has its own namespaces, so runs cannot collide. Returns runs in catalogue
    order; a run that failed is returned as its exception. Ctrl-C stops starting new runs.
    """
    wanted = set(names) if names is not None else None
    jobs = [(s["name"], v) for s in scenarios() for v in s["ip_versions"]
            if v in tuple(ip_versions) and (wanted is None or s["name"] in wanted)]
    if jobs:
        # Every run needs the same namespaces: without them, raise once before starting any.
        _rstlab.check_privileges(jobs[0][0])
    return _in_parallel(jobs, lambda job: run(job[0], job[1], keep_dir=keep_dir), parallel, progress,
                        "lab", lambda i: f"{jobs[i][0]} v{jobs[i][1]}")


_Job = TypeVar("_Job")


def _in_parallel(jobs: list[_Job], one: Callable[[_Job], Run], workers: int,
                 progress: bool | Callable[[int, int, str], object], what: str,
                 label: Callable[[int], str]) -> list[Run | RstlabError]:
    """Runs ``one(job)`` for every job, ``workers`` at a time (each run has its own
    namespaces); the runs in job order, a failed one as its exception. ``progress`` is told of
    each finished run (a callable gets ``(done, total, label)``; ``True`` draws a bar on a
    terminal). Ctrl-C stops starting new runs."""
    results: dict[int, Run | RstlabError] = {}
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futs = {pool.submit(one, j): i for i, j in enumerate(jobs)}
        try:
            for f in as_completed(futs):
                i = futs[f]
                try:
                    results[i] = f.result()
                except RstlabError as e:
                    results[i] = e
                done += 1
                if callable(progress):
                    progress(done, len(jobs), label(i))
                elif progress and sys.stderr.isatty():
                    bar = "#" * int(30 * done / max(len(jobs), 1))
                    sys.stderr.write(f"\r{what} [{bar:<30}] {done}/{len(jobs)} {label(i)[:30]:<30}")
                    sys.stderr.flush()
        except KeyboardInterrupt:
            for f in futs:
                f.cancel()
            raise
    if progress is True and sys.stderr.isatty():
        sys.stderr.write("\n")
    return [results[i] for i in range(len(jobs))]


def claims(runs: list[Run | RstlabError]) -> list[Claim]:
    """The source text's claims S1–S12 with the verdict each run gave and its evidence."""
    rows: list[Claim] = []
    for r in runs:
        if isinstance(r, Run) and r.claim and r.verdict is not None:
            rows.append({"claim": r.claim, "scenario": r.scenario, "ip_version": r.ip_version,
                         "statement": r.info.get("statement", ""), "verdict": r.verdict,
                         "evidence": r.evidence})
    rows.sort(key=lambda x: (int(x["claim"][1:]), x["scenario"], x["ip_version"]))
    return rows


def agreement(runs: list[Run | RstlabError]) -> Agreement:
    """The classifier against the kernel: per-scenario confusion rows and the overall figure.

    A RST the TCP stack sent (a ``tcp_send_reset`` event) agrees when the classifier's cause is
    the cause the kernel's reason implies. RSTs no stack sent are reported with the cause the
    classifier gave (forged and middlebox ones should be ``injected``).
    """
    rows: list[AgreementRow] = []
    stack, agree, other, injected = 0, 0, 0, 0
    for r in runs:
        if not isinstance(r, Run):
            continue
        for x in r.resets:
            rows.append({"scenario": r.scenario, "ip_version": r.ip_version, "frame": x["frame"],
                         "host": x["host"], "kernel_reason": x["kernel_reason"],
                         "kernel_cause": x["kernel_cause"], "cause": x["cause"], "agrees": x["agrees"]})
            if x["kernel_cause"] is not None:
                stack += 1
                agree += bool(x["agrees"])
            elif x["stack_sent"] is False:
                other += 1
                injected += x["cause"] == "injected"
    return {"rows": rows, "stack_rsts": stack, "agree": agree,
            "share": agree / stack if stack else None, "non_stack_rsts": other,
            "non_stack_injected": injected}


class Lab:
    """Compose a scenario of your own from the lab's building blocks.

    ::

        with rstlab.lab.Lab(ip_version=6) as lab:
            pid = lab.spawn("server", ["python3", "my_server.py", "--port", "8080"])
            c = lab.socket("client")
            c.connect((lab.addr("server"), 8080))
            lab.reboot("server")            # crash and reboot: old sockets stay behind
            c.send(b"hello")                # answered with a RST by the rebooted host
            run = lab.finish()              # a Run: capture, app events, kernel reasons, causes

    Hosts are ``"client"`` and ``"server"`` (and ``"router"`` with ``routed=True``), each a
    fresh network namespace; everything is torn down by ``finish()`` or when the ``with`` block
    ends, also on exceptions.
    """

    def __init__(self, name: str = "custom", ip_version: int = 4, *, routed: bool = False,
                 oracle: bool = True, sysctls: Iterable[tuple[str, str, str]] = ()) -> None:
        self._native = _rstlab.Lab(name, ip_version, routed, oracle, list(sysctls))
        self.run: Run | None = None

    # The building blocks themselves, each the native lab's (rstlab-lab's `Lab`).

    def addr(self, role: str) -> str:
        """The address of host ``role`` (``"client"``, ``"server"``, ``"router"``)."""
        return self._native.addr(role)

    def server_addr(self) -> tuple[str, int]:
        """The server's ``(address, port)`` that scenarios listen on."""
        return self._native.server_addr()

    def socket(self, role: str) -> Sock:
        """A TCP socket in host ``role``; every call on it is recorded as an app event."""
        return self._native.socket(role)

    def listener(self, role: str = "server", backlog: int = 16) -> Sock:
        """A socket in ``role`` bound to the server address and listening."""
        return self._native.listener(role, backlog)

    def spawn(self, role: str, argv: list[str]) -> int:
        """Start ``argv`` (e.g. your own server) inside host ``role``; returns its pid. It is
        killed and reaped when the lab finishes, and dies with this process."""
        return self._native.spawn(role, argv)

    def kill(self, pid: int, signal: int = 9) -> None:
        """Send ``signal`` (default SIGKILL) to a spawned process and reap it."""
        self._native.kill(pid, signal)

    def drop_input(self, role: str, expr: str = "") -> int:
        """Silence traffic arriving at ``role`` (an nft drop on its input hook; ``expr`` narrows
        it, e.g. ``"tcp flags syn"``). Returns a fault id for :meth:`heal`."""
        return self._native.drop_input(role, expr)

    def reject(self, role: str, expr: str = "meta l4proto tcp") -> int:
        """``reject with tcp reset`` on ``role``'s input hook (a host firewall), or on the
        router's forward hook when ``role`` is ``"router"`` (a middlebox). Returns a fault id."""
        return self._native.reject(role, expr)

    def heal(self, fault: int) -> None:
        """Remove a fault :meth:`drop_input` or :meth:`reject` made."""
        self._native.heal(fault)

    def reboot(self, role: str) -> None:
        """Crash and reboot host ``role``: a fresh namespace with the same address (its old
        sockets stay behind, unreachable)."""
        self._native.reboot(role)

    def vanish(self, role: str) -> None:
        """Make ``role`` vanish from the network (no answer at all)."""
        self._native.vanish(role)

    def sysctl(self, role: str, key: str, value: str) -> None:
        """Set a sysctl inside host ``role``'s namespace only (recorded in ``Run.meta``)."""
        self._native.sysctl(role, key, value)

    def wait_rst(self, timeout: float = 2.0) -> bool:
        """Wait up to ``timeout`` seconds for a RST on the wire; ``False`` if none came."""
        return self._native.wait_rst(timeout)

    def finish(self) -> Run:
        """Stop capturing and tracing, tear everything down and return the run, classified
        (once; later calls return the same run)."""
        if self.run is None:
            self.run = Run(self._native.finish())
        return self.run

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.run is None:
            try:
                self.finish()
            except RstlabError:
                if exc[0] is None:
                    raise
