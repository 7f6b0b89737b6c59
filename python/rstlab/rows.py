"""The shape of one row of each table, and of each record a lab run returns, for type checkers.

Each ``TypedDict`` here restates, in Python types, what the Rust side declares: the tables'
columns (``rstlab.table.columns()``: Arrow ``uint*`` → ``int``, ``double`` → ``float``,
``timestamp[ns, tz=UTC]`` → ``datetime``, ``duration[ns]`` → ``timedelta``,
``string`` and ``dictionary<string>`` → ``str``, a nullable column → ``… | None``) and the dicts
``rstlab._rstlab`` builds for a lab run. ``tests/test_typing.py`` checks every key and type here
against those declarations, so a column added in Rust and not here fails a test.

Iterating a :class:`~rstlab.table.Table` yields these (``for r in trace.resets: r["cause"]``
is a ``str`` to a type checker); :class:`~rstlab.trace.Connection` exposes
:class:`ConnectionRow`'s keys as attributes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

__all__ = [
    "ConnectionRow",
    "SegmentRow",
    "ZeekConnRow",
    "ResetRow",
    "RunResetRow",
    "AppEvent",
    "KernelEvent",
    "Verdict",
    "SysctlPin",
    "RunMeta",
    "ScenarioInfo",
    "ClaimVerdict",
    "Claim",
    "AgreementRow",
    "Agreement",
    "RunDict",
    "CaptureConnectionRow",
    "CaptureSegmentRow",
    "CaptureZeekConnRow",
    "CaptureResetRow",
    "CaptureError",
]

#: A run's verdict on the claim its scenario tests.
ClaimVerdict = Literal["holds", "differs"]


class ConnectionRow(TypedDict):
    """One row of ``Trace.connections`` (docs/columns.md, ``connections``)."""

    conn_id: int
    orig_addr: str
    orig_port: int
    resp_addr: str
    resp_port: int
    ip_version: int
    first_ts: datetime
    last_ts: datetime
    duration: timedelta
    first_frame: int
    last_frame: int
    orig_pkts: int
    resp_pkts: int
    orig_bytes: int
    resp_bytes: int
    conn_state: str
    history: str
    orig_syn_frame: int
    resp_syn_frame: int
    orig_fin_frame: int | None
    resp_fin_frame: int | None
    orig_rst_frame: int | None
    resp_rst_frame: int | None
    rst_count: int
    end_reason: str
    zeek_conns: int


class SegmentRow(TypedDict):
    """One row of ``Trace.segments`` / ``Connection.segments``."""

    frame: int
    ts: datetime
    conn_id: int
    dir: str
    src: str
    sport: int
    dst: str
    dport: int
    flags: str
    seq: int
    ack: int
    seq_rel: int
    ack_rel: int
    len: int
    window: int
    ttl: int
    ip_id: int
    options: str
    checksum: str
    wscale: int | None
    sack: str
    retransmission: bool


class ZeekConnRow(TypedDict):
    """One row of ``Trace.zeek_conns`` (a connection as Zeek's conn.log splits it)."""

    conn_id: int
    orig_addr: str
    orig_port: int
    resp_addr: str
    resp_port: int
    conn_state: str
    history: str


class ResetRow(TypedDict):
    """One row of ``Trace.resets``: one RST and the classifier's verdict on it."""

    frame: int
    ts: datetime
    conn_id: int
    sender: str
    flags: str
    seq: int
    ack: int
    ttl: int
    ip_id: int | None
    window: int
    options: str
    trigger: int | None
    phase: str
    acceptability: str
    effect: str
    origin: str
    cause: str
    confidence: float
    alternatives: list[str]
    evidence: str


class CaptureConnectionRow(ConnectionRow):
    """One row of ``rstlab.read_many(...).connections``: a :class:`ConnectionRow` and the
    capture it comes from (the table's leading column)."""

    capture: str


class CaptureSegmentRow(SegmentRow):
    """One row of ``rstlab.read_many(..., segments=True).segments``."""

    capture: str


class CaptureZeekConnRow(ZeekConnRow):
    """One row of ``rstlab.read_many(...).zeek_conns``."""

    capture: str


class CaptureResetRow(ResetRow):
    """One row of ``rstlab.read_many(...).resets`` (and of ``rstlab.dask.read_resets``)."""

    capture: str


class CaptureError(TypedDict):
    """A capture ``rstlab.read_many(..., errors="keep")`` read in part or not at all: the
    exception's class name, its message, and the byte offset of the damage when known."""

    capture: str
    error: str
    message: str
    offset: int | None


class RunResetRow(ResetRow):
    """One row of ``Run.resets``: a :class:`ResetRow` plus what the lab knows of that RST."""

    host: str
    kernel_reason: str | None
    kernel_state: str | None
    stack_sent: bool | None
    kernel_cause: str | None
    agrees: bool | None


class WatchRow(ResetRow):
    """One row of ``rstlab.watch``: a :class:`ResetRow` (``frame`` numbers the frames the watch
    saw) plus the live context of that RST."""

    src: str
    sport: int
    dst: str
    dport: int
    history: str
    conn_state: str
    judged: str
    kernel_reason: str | None
    kernel_state: str | None
    pid: int | None
    comm: str | None


class AppEvent(TypedDict):
    """One socket call an application made in a lab run, and what it saw (``Run.app_events``)."""

    host: str
    call: str
    result: str
    errno: str | None
    errno_code: int | None
    ts: float
    start_ts: float


class KernelEvent(TypedDict):
    """One kernel tracepoint event of a lab run (``Run.kernel_events``)."""

    kind: str
    ts: float
    saddr: str
    sport: int
    daddr: str
    dport: int
    state: str | None
    reason: str | None
    oldstate: str | None
    newstate: str | None


class Verdict(TypedDict):
    """A scenario's verdict on its claim, as the native run holds it."""

    holds: bool
    evidence: str


class SysctlPin(TypedDict):
    """One sysctl a run pinned inside one of its namespaces."""

    host: str
    key: str
    value: str


class RunMeta(TypedDict):
    """What a run was made on (``Run.meta``)."""

    kernel: str
    machine: str
    rstlab_version: str
    sysctls: list[SysctlPin]


class ScenarioInfo(TypedDict):
    """One entry of the lab's catalogue (``rstlab.lab.scenarios()``)."""

    name: str
    family: str
    claim: str | None
    statement: str
    intent: str
    source: str
    needs: list[str]
    ip_versions: list[int]
    topology: str
    capture_at: str
    sysctls: list[tuple[str, str, str]]
    params: list[str]
    expect_causes: list[str]
    expect_kernel_reasons: list[str]


# The JSON documents (``rstlab/schemas/*.json``, docs/json.md); the test checks each against its
# published schema.


class Claim(TypedDict):
    """One row of ``rstlab.lab.claims()`` (``rstlab claims --format json``)."""

    claim: str
    scenario: str
    ip_version: int
    statement: str
    verdict: ClaimVerdict
    evidence: str


class AgreementRow(TypedDict):
    """One RST of ``rstlab.lab.agreement()["rows"]``."""

    scenario: str
    ip_version: int
    frame: int
    host: str
    kernel_reason: str | None
    kernel_cause: str | None
    cause: str
    agrees: bool | None


class Agreement(TypedDict):
    """``rstlab.lab.agreement()`` (``rstlab agreement --format json``)."""

    rows: list[AgreementRow]
    stack_rsts: int
    agree: int
    share: float | None
    non_stack_rsts: int
    non_stack_injected: int


class _RunKeys(TypedDict):
    """The keys every run has (see :class:`RunDict`)."""

    scenario: str
    ip_version: int
    claim: str | None
    verdict: ClaimVerdict | None
    evidence: str
    resets: list[RunResetRow]
    app_events: list[AppEvent]
    kernel_events: list[KernelEvent]
    oracle_available: bool
    oracle_note: str | None
    duration: float
    metrics: dict[str, float]
    meta: RunMeta
    pcapng: str | None


class RunDict(_RunKeys, total=False):
    """``Run.to_dict()`` (``rstlab run --format json``; ``rstlab generate`` adds ``program``)."""

    #: The generated program a run played (``rstlab generate``; docs/generate.md).
    program: dict[str, Any]
