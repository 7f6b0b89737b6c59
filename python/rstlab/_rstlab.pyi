"""Type stubs for rstlab's compiled core (the thin PyO3 binding over rstlab-trace and rstlab-lab).

Users call the curated API in ``rstlab`` (``read``, ``lab.run``...); these are its building blocks.
"""

from os import PathLike
from typing import Any, Callable

__version__: str

class ArrowTable:
    """One Arrow table owned by Rust; import it with ``pyarrow.table(obj)`` (zero copy)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __len__(self) -> int: ...
    @property
    def column_names(self) -> list[str]: ...

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
    def error(self) -> dict[str, Any] | None: ...

def analyze_file(
    path: str | PathLike[str],
    *,
    verify_checksums: bool = False,
    zeek_drop_bad_checksums: bool = False,
    zeek_bare: bool = False,
    segments: None | str | int = None,
    classify: bool = True,
    progress: Callable[[int, int], object] | None = None,
) -> Analysis:
    """Analyse a capture file with the GIL released; ``progress(done, total)`` every few MB."""

def write_pcapng_with_comments(src: str | PathLike[str], dst: str | PathLike[str],
                               comments: dict[int, str]) -> dict[str, Any] | None:
    """Copy ``src`` to pcapng with ``comments`` ({frame: text}) as packet comments."""

def causes() -> list[tuple[str, str, str]]:
    """The cause taxonomy: (id, family, description) in the Rust enum's order."""

class LabRun:
    """One finished lab run (see ``rstlab.lab.Run`` for the curated object)."""

    scenario: str
    ip_version: int
    verdict: dict[str, Any] | None
    app_events: list[dict[str, Any]]
    kernel_events: list[dict[str, Any]]
    resets: list[dict[str, Any]]
    hosts: list[tuple[str, str]]
    interfaces: list[str]
    duration: float
    metrics: dict[str, float]
    oracle_available: bool
    oracle_note: str | None
    pcapng: str | None
    connections: ArrowTable
    segments: ArrowTable
    reset_table: ArrowTable
    def write_pcapng(self, path: str | PathLike[str], comments: dict[int, str] | None = None,
                     all_interfaces: bool = True) -> None: ...

def scenarios() -> list[dict[str, Any]]:
    """The lab's catalogue."""

def run(name: str, ip_version: int = 4, params: dict[str, str] | None = None,
        keep_dir: str | PathLike[str] | None = None, oracle: bool = True) -> LabRun:
    """Run one scenario in fresh network namespaces (GIL released)."""
