"""The reset taxonomy: stable snake_case cause ids (kept equal to the Rust enum by a test)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Cause", "describe"]


class Cause(StrEnum):
    """Why a RST was sent (DESIGN §3). ``unknown`` is an honest answer."""

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


def describe(cause: str | Cause) -> str:
    """The one-line meaning of a cause, from the classifier itself."""
    from . import _rstlab

    for cid, _family, text in _rstlab.causes():
        if cid == str(cause):
            return text
    raise ValueError(f"unknown cause {cause!r}")
