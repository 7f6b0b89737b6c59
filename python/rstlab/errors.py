"""rstlab's exceptions. Each also subclasses the stdlib class users already catch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .trace import Trace

__all__ = [
    "RstlabError",
    "TraceFormatError",
    "UnsupportedLinkTypeError",
    "PrivilegeError",
    "ScenarioTimeout",
    "LabError",
    "ScenarioError",
]


class RstlabError(Exception):
    """Root of every error rstlab raises on purpose."""


class TraceFormatError(RstlabError, ValueError):
    """A capture file is damaged or not a capture at all.

    ``path`` and ``offset`` say where; ``trace`` holds everything readable before the damage.
    """

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None,
                 trace: "Trace | None" = None) -> None:
        super().__init__(message)
        self.path = path
        self.offset = offset
        self.trace = trace


class UnsupportedLinkTypeError(TraceFormatError):
    """The capture's link type is not one rstlab decodes; ``linktype`` names it."""

    def __init__(self, message: str, *, path: str | None = None, linktype: int | None = None,
                 trace: "Trace | None" = None) -> None:
        super().__init__(message, path=path, offset=None, trace=trace)
        self.linktype = linktype


class PrivilegeError(RstlabError, PermissionError):
    """The operation needs a privilege this process lacks; the message says what to run."""


class ScenarioTimeout(RstlabError, TimeoutError):
    """A lab scenario did not finish in its time budget."""


class LabError(RstlabError, OSError):
    """A lab run failed for a reason other than privileges or time."""


class ScenarioError(RstlabError, ValueError):
    """No such scenario, no such IP version of it, or a bad parameter."""


def raise_for(desc: dict[str, Any] | None, trace: "Trace | None" = None) -> None:
    """Raise the exception a core error description stands for (no-op for ``None``)."""
    if desc is None:
        return
    kind = desc.get("kind")
    msg = desc.get("message", "error")
    if kind == "io":
        errno = desc.get("errno")
        exc: OSError
        if errno is not None:
            import os
            exc = OSError(errno, os.strerror(errno), desc.get("path"))
        else:
            exc = OSError(msg)
        raise exc
    if kind == "format":
        raise TraceFormatError(msg, path=desc.get("path"), offset=desc.get("offset"), trace=trace)
    if kind == "unsupported_link":
        raise UnsupportedLinkTypeError(msg, path=desc.get("path"), linktype=desc.get("linktype"),
                                       trace=trace)
    if kind == "interrupted":
        raise KeyboardInterrupt
    raise RstlabError(msg)
