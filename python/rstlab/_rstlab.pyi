"""Type stubs for rstlab's compiled core (the thin PyO3 binding over rstlab-trace and rstlab-lab).

Users call the curated API in ``rstlab`` (``read``, ``lab.run``...); these are its building blocks.
"""

from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any, final

from rstlab.rows import AppEvent, KernelEvent, RunMeta, ScenarioInfo, Verdict

__all__ = [
    "__version__",
    "ArrowTable",
    "Analysis",
    "BatchReader",
    "analyze_file",
    "write_pcapng_with_comments",
    "causes",
    "columns",
    "LabRun",
    "scenarios",
    "run",
    "check_privileges",
    "lab_mode",
    "oracle_check",
    "draw_programs",
    "judge_labelled",
    "run_program",
    "shrink_program",
    "_set_userns_helper",
    "_userns_child",
    "Lab",
    "Sock",
    "Watch",
    "watch_replay",
]

__version__: str

# Every class is a PyO3 class without `subclass`: final (Python code cannot subclass it).

@final
class ArrowTable:
    """One Arrow table owned by Rust; import it with ``pyarrow.table(obj)`` (zero copy)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __len__(self) -> int: ...
    @property
    def column_names(self) -> list[str]: ...

@final
class BatchReader:
    """One table of a capture in batches, read on a thread of Rust's own (no GIL) while the
    batches are taken; each is an :class:`ArrowTable` of one record batch."""

    def __new__(cls, path: str | PathLike[str], *, table: str = "resets", batch_size: int = 65536,
                verify_checksums: bool = False) -> BatchReader: ...
    def __iter__(self) -> BatchReader: ...
    def __next__(self) -> ArrowTable: ...
    def close(self) -> None:
        """Stop reading (the thread ends within a few megabytes)."""

@final
class Analysis:
    """The result of one pass over a capture."""

    @property
    def connections(self) -> ArrowTable: ...
    @property
    def segments(self) -> ArrowTable: ...
    @property
    def zeek_conns(self) -> ArrowTable: ...
    @property
    def resets(self) -> ArrowTable: ...
    @property
    def counts(self) -> dict[str, int]: ...
    @property
    def error(self) -> BaseException | None:
        """Why the pass stopped early, if it did: a :class:`~rstlab.errors.TraceFormatError`
        (the tables hold what was read before the damage), an :class:`OSError` by errno with the
        filename, or :class:`KeyboardInterrupt`. Made, not raised: ``rstlab.read`` attaches the
        partial trace and raises or keeps it."""
    @property
    def notes(self) -> list[str]:
        """What the reader skipped and the caller should know: one sentence per link type
        rstlab does not read (frames, interfaces, what it reads instead)."""
    def connection_segments(self, conn_id: int, first_frame: int, last_frame: int) -> ArrowTable:
        """The segments of connection ``conn_id`` (its row's ``first_frame`` / ``last_frame``),
        re-read with the GIL released: only the frames it spans, from the last place the pass
        marked before them (classic pcap; pcapng is read from the start up to ``last_frame``)."""
    @property
    def index_bytes(self) -> int:
        """Bytes the drill-down index takes (one mark per 8 MiB of file)."""

def analyze_file(
    path: str | PathLike[str],
    *,
    verify_checksums: bool = False,
    zeek_drop_bad_checksums: bool = False,
    zeek_bare: bool = False,
    segments: None | str | int = None,
    classify: bool = True,
    progress: Callable[[int, int], object] | None = None,
    workers: int = 1,
    skip_link_bytes: int | None = None,
) -> Analysis:
    """Analyse a capture file with the GIL released; ``progress(done, total)`` every few MB;
    ``workers`` threads in all, the reading one included (0: one per core)."""

def write_pcapng_with_comments(src: str | PathLike[str], dst: str | PathLike[str],
                               comments: dict[int, str]) -> None:
    """Copy ``src`` to pcapng with ``comments`` ({frame: text}) as packet comments; raises
    :class:`OSError` (with the filename) or :class:`~rstlab.errors.TraceFormatError`."""

def causes() -> list[tuple[str, str, str, list[str], list[str]]]:
    """The cause registry: (id, family, description, kernel reasons, lab scenarios) in the Rust
    enum's order."""

def columns() -> list[tuple[str, str, str, str]]:
    """The column reference: (table, column, Arrow type as pyarrow names it, one-line doc) for
    every column of every table, in the tables' column order."""

@final
class LabRun:
    """One finished lab run (see ``rstlab.lab.Run`` for the curated object). Every attribute is
    read-only and converted from the Rust ``RunResult`` on each access."""

    @property
    def scenario(self) -> str: ...
    @property
    def ip_version(self) -> int: ...
    @property
    def verdict(self) -> Verdict | None: ...
    @property
    def app_events(self) -> list[AppEvent]: ...
    @property
    def kernel_events(self) -> list[KernelEvent]: ...
    @property
    def resets(self) -> list[dict[str, Any]]:
        """The run's RSTs: :class:`~rstlab.rows.RunResetRow`'s keys, ``ts`` as integer
        nanoseconds since the epoch (``Run.resets`` makes it a ``timestamp[ns, tz=UTC]`` column)."""
    @property
    def hosts(self) -> list[tuple[str, str]]: ...
    @property
    def interfaces(self) -> list[str]: ...
    @property
    def duration(self) -> float: ...
    @property
    def metrics(self) -> dict[str, float]: ...
    @property
    def oracle_available(self) -> bool: ...
    @property
    def oracle_note(self) -> str | None: ...
    @property
    def meta(self) -> RunMeta:
        """``kernel`` (``uname -r``), ``machine``, ``rstlab_version`` and ``sysctls`` (a list of
        ``{"host", "key", "value"}`` the run pinned inside its namespaces)."""
    @property
    def pcapng(self) -> Path | None: ...
    @property
    def connections(self) -> ArrowTable: ...
    @property
    def segments(self) -> ArrowTable: ...
    @property
    def reset_table(self) -> ArrowTable: ...
    @property
    def zeek_conns(self) -> ArrowTable: ...
    def write_pcapng(self, path: str | PathLike[str], comments: dict[int, str] | None = None,
                     all_interfaces: bool = True) -> None: ...

def scenarios() -> list[ScenarioInfo]:
    """The lab's catalogue."""

def run(name: str, ip_version: int = 4, params: dict[str, str] | None = None,
        keep_dir: str | PathLike[str] | None = None, oracle: bool = True) -> LabRun:
    """Run one scenario in fresh network namespaces (GIL released). Raises the
    :mod:`rstlab.errors` class its failure maps to (``ScenarioError``, ``PrivilegeError``,
    ``ScenarioTimeout``, ``LabError``)."""

def draw_programs(seed: int, count: int) -> list[str]:
    """Generated programs ``0..count`` of ``seed``, each as its JSON text (docs/generate.md)."""

def judge_labelled(path: str | PathLike[str], labels: dict[int, tuple[str, str | None]]) -> list[tuple[int, str, float, str | None, list[str]]]:
    """Classify a corpus capture again: per RST (frame, cause, confidence, the cause its kernel
    label ``labels[frame] = (reason, state)`` implies, or None, the alternatives: the other
    causes whose rules also answer)."""

def run_program(program: str) -> LabRun:
    """Run one generated program (its JSON text) in fresh namespaces, in this process (GIL
    released). ``ScenarioError`` for a malformed program; ``PrivilegeError`` without
    CAP_NET_ADMIN."""

def shrink_program(program: str, reason: str, cause: str | None = None, budget: int = 60) -> tuple[str, int, int, int]:
    """Shrink a program while a stack-made RST with kernel reason ``reason`` (classified
    ``cause`` and disagreeing, when given) still appears; every candidate is a real run.
    Returns (program JSON, runs made, steps before, steps after)."""

def check_privileges(scenario: str) -> None:
    """Raise the :class:`~rstlab.errors.PrivilegeError` a run of ``scenario`` would raise
    (``capability``, ``hint``), before anything is built; ``None`` when runs can happen here
    (as root, or as an ordinary user inside a user namespace)."""

def lab_mode() -> str:
    """How catalogue runs happen here: ``"root"`` (with the kernel oracle), ``"netns"`` (in this
    process, already in a user namespace) or ``"userns"`` (each run in a child that enters one);
    raises :class:`~rstlab.errors.PrivilegeError` when none can."""

def oracle_check() -> str | None:
    """Why a run here would have no kernel oracle (``None``: it would), found as a run finds it
    (tracefs mounted, or a private mount made and removed)."""

def _set_userns_helper(argv: list[str]) -> None:
    """The program (argv) an ordinary user's runs start inside a user namespace; it must call
    ``_userns_child()``."""

def _userns_child() -> int:
    """The user-namespace child's side of a run: request on stdin, outcome on stdout; returns
    the exit status."""

@final
class Sock:
    """A TCP socket inside a lab host; a failed call raises :class:`OSError` by errno (e.g.
    ``ConnectionResetError``), as a Python socket does."""

    def connect(self, address: tuple[str, int], timeout: float | None = None) -> None: ...
    def accept(self) -> Sock: ...
    def send(self, data: bytes) -> int: ...
    def fill(self, total: int) -> int: ...
    def recv(self, max: int = 65536, timeout: float | None = None) -> bytes: ...
    def shutdown_write(self) -> None: ...
    def linger(self, seconds: int) -> None: ...
    def user_timeout_ms(self, ms: int) -> None: ...
    def keepalive(self, idle: int, interval: int, count: int) -> None: ...
    def tcp_state(self) -> str | None: ...
    def close(self) -> None: ...

@final
class Lab:
    """A live topology of fresh network namespaces (see ``rstlab.lab.Lab``)."""

    def __new__(cls, name: str = "custom", ip_version: int = 4, routed: bool = False,
                oracle: bool = True, sysctls: list[tuple[str, str, str]] | None = None) -> Lab: ...
    def addr(self, role: str) -> str: ...
    def server_addr(self) -> tuple[str, int]: ...
    def socket(self, role: str) -> Sock: ...
    def listener(self, role: str = "server", backlog: int = 16) -> Sock: ...
    def spawn(self, role: str, argv: list[str]) -> int: ...
    def kill(self, pid: int, signal: int = 9) -> None: ...
    def drop_input(self, role: str, expr: str = "") -> int: ...
    def reject(self, role: str, expr: str = "meta l4proto tcp") -> int: ...
    def heal(self, fault: int) -> None: ...
    def reboot(self, role: str) -> None: ...
    def vanish(self, role: str) -> None: ...
    def sysctl(self, role: str, key: str, value: str) -> None: ...
    def wait_rst(self, timeout: float = 2.0) -> bool: ...
    def finish(self) -> LabRun: ...

@final
class Watch:
    """A running live watch (see ``rstlab.live.Watch``): the worker thread in ``rstlab-lab``."""

    def __new__(cls, *, netns: str | None = None, netns_pid: int | None = None,
                interface: str | None = None, filter: str | None = None, settle: float = 1.0,
                pcapng: str | PathLike[str] | None = None, kernel: bool = True,
                duration: float | None = None, idle: int = 300, closed_idle: int = 5) -> Watch: ...
    def next_batch(self, timeout: float = 0.2, max: int = 1024) -> tuple[ArrowTable, list[dict[str, Any]]] | None:
        """Rows judged within ``timeout`` s: the resets table for them and one dict of live
        context per row; ``None`` if none came; ``StopIteration`` once the watch ended."""
    def stats(self) -> dict[str, int]: ...
    @property
    def kernel_note(self) -> str | None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...

def watch_replay(run: LabRun, settle: float = 1.0) -> tuple[ArrowTable, list[dict[str, Any]]]:
    """A lab run's RSTs through the live path (``rstlab.live.replay``)."""
