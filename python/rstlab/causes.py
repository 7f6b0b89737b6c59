"""The reset taxonomy: stable snake_case cause ids.

The source is the Rust cause registry (``rust/rstlab-trace/src/classify/cause.rs``), which
declares each cause once with its meaning, rule family, the Linux kernel reasons that imply it
and the lab scenarios that produce it. ``Cause`` is checked against it by a test, and
``docs/causes.md`` is generated from it::

    python -c "import rstlab.causes as c; print(c.markdown(), end='')" > docs/causes.md
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

__all__ = ["Cause", "CauseInfo", "describe", "markdown", "registry"]


class Cause(StrEnum):
    """Why a RST was sent (docs/causes.md, one page per cause under docs/causes/). ``unknown`` is an
    honest answer."""

    REFUSED = "refused"
    HANDSHAKE_ABORT = "handshake_abort"
    CONNECT_ABANDONED = "connect_abandoned"
    SYN_SENT_BAD_ACK = "syn_sent_bad_ack"
    ABORT = "abort"
    AFTER_CLOSE = "after_close"
    NO_CONNECTION = "no_connection"
    KEEPALIVE_TIMEOUT = "keepalive_timeout"
    RETRANSMISSION_TIMEOUT = "retransmission_timeout"
    PROTOCOL_VIOLATION = "protocol_violation"
    INJECTED = "injected"
    UNSOLICITED = "unsolicited"
    UNKNOWN = "unknown"


class CauseInfo(NamedTuple):
    """One row of the cause registry."""

    id: str
    #: The rule file that decides it (``classify/rules/<family>.rs``).
    family: str
    description: str
    #: Linux ``sk_rst_reason`` names (without ``SK_RST_REASON_``) that can imply it.
    kernel_reasons: tuple[str, ...]
    #: Lab scenarios whose kernel-labelled captures contain a RST of this cause.
    scenarios: tuple[str, ...]


def registry() -> list[CauseInfo]:
    """Every cause as the classifier declares it, in its order."""
    from . import _rstlab

    return [CauseInfo(cid, family, text, tuple(kernel), tuple(scenarios))
            for cid, family, text, kernel, scenarios in _rstlab.causes()]


def describe(cause: str | Cause) -> str:
    """The one-line meaning of a cause, from the classifier itself."""
    for info in registry():
        if info.id == str(cause):
            return info.description
    raise ValueError(f"unknown cause {cause!r}")


def markdown() -> str:
    """The cause table of ``docs/causes.md``, generated from the registry."""
    def names(xs: tuple[str, ...]) -> str:
        return ", ".join(f"`{x}`" for x in xs) if xs else "—"

    lines = [
        "# Causes",
        "",
        "<!-- Generated from the cause registry (rust/rstlab-trace/src/classify/cause.rs):",
        "     python -c \"import rstlab.causes as c; print(c.markdown(), end='')\" > docs/causes.md",
        "     tests/test_causes.py checks that this file is up to date. -->",
        "",
        "Why a RST was sent, as the `cause` column names it. *Family* is the rule file that decides",
        "it (`rust/rstlab-trace/src/classify/rules/<family>.rs`); *kernel reasons* are the Linux",
        "`tcp:tcp_send_reset` reasons (`enum sk_rst_reason`, without `SK_RST_REASON_`) that can imply",
        "it; *scenarios* are the lab scenarios whose kernel-labelled captures contain it. Each cause",
        "links to its page: what makes it happen in production, what to do, the RFC text, a ladder.",
        "",
        "| cause | meaning | family | kernel reasons | scenarios |",
        "|---|---|---|---|---|",
    ]
    for c in registry():
        meaning = c.description.replace("|", "\\|")
        lines.append(f"| [`{c.id}`](causes/{c.id}.md) | {meaning} | {c.family} | {names(c.kernel_reasons)} | "
                     f"{names(c.scenarios)} |")
    return "\n".join(lines) + "\n"
