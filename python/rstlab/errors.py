"""rstlab's exceptions. Each also subclasses the stdlib class users already catch.

The compiled core raises them (``rust/rstlab-py/src/errors.rs`` maps every core error to one of
these, with its structured attributes as keywords); a failed system call on a capture or a lab
socket is a plain :class:`OSError` subclass chosen by errno, with ``filename`` kept.
"""

from __future__ import annotations

from typing import Any

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

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from the message and the keyword attributes (pickling, copying), since the
        # constructors take attributes by keyword only; a partial ``trace`` stays behind.
        attrs = {k: v for k, v in vars(self).items() if k != "trace"}
        return (_rebuild, (type(self), str(self), attrs))


def _rebuild(cls: type[RstlabError], message: str, attrs: dict[str, Any]) -> RstlabError:
    exc = cls(message)
    for name, value in attrs.items():
        setattr(exc, name, value)  # also OSError's errno / strerror / filename
    return exc


class TraceFormatError(RstlabError, ValueError):
    """A capture file is damaged or not a capture at all.

    ``path`` is the file, ``offset`` the byte offset of the damage, ``what`` what is wrong
    there; ``trace`` holds everything readable before the damage (``None`` when not attached).
    """

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None,
                 what: str | None = None, trace: Any = None) -> None:
        super().__init__(message)
        self.path = path
        self.offset = offset
        self.what = what
        #: The :class:`rstlab.Trace` of what was read before the damage.
        self.trace = trace


class UnsupportedLinkTypeError(TraceFormatError):
    """The capture's link type is not one rstlab decodes: ``linktype`` (a LINKTYPE_* number)
    on pcapng interface ``interface`` (0 in a pcap file)."""

    def __init__(self, message: str, *, path: str | None = None, linktype: int | None = None,
                 interface: int | None = None, trace: Any = None) -> None:
        super().__init__(message, path=path, trace=trace)
        self.linktype = linktype
        self.interface = interface


class PrivilegeError(RstlabError, PermissionError):
    """The operation needs a privilege this process lacks: ``capability`` names it (e.g.
    ``CAP_NET_ADMIN``), ``hint`` says what to run."""

    def __init__(self, message: str, *, capability: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.capability = capability
        self.hint = hint


class ScenarioTimeout(RstlabError, TimeoutError):
    """A lab ``scenario`` did not reach a point it waits for in its time budget."""

    def __init__(self, message: str, *, scenario: str | None = None) -> None:
        super().__init__(message)
        self.scenario = scenario


class LabError(RstlabError, OSError):
    """A lab run failed for a reason other than privileges or time.

    When a system call failed, ``errno``, ``strerror`` and ``filename`` (the file it was about,
    if any) are the call's, as on any :class:`OSError`; ``scenario`` names the run where known.
    """

    def __init__(self, message: str, *, errno: int | None = None, strerror: str | None = None,
                 filename: str | None = None, scenario: str | None = None) -> None:
        # OSError's own constructor sets errno, strerror and filename; str() is the message,
        # which already says what failed and the strerror once.
        if errno is None:
            super().__init__(message)
        elif filename is None:
            super().__init__(errno, strerror)
        else:
            super().__init__(errno, strerror, filename)
        self.message = message
        self.scenario = scenario

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        attrs = {"errno": self.errno, "strerror": self.strerror, "filename": self.filename,
                 "scenario": self.scenario}
        return (_rebuild, (type(self), self.message, attrs))


class ScenarioError(RstlabError, ValueError):
    """No such scenario, no such IP version of it, or a bad parameter: ``scenario`` names the
    scenario (or composed lab) where known, ``param`` the parameter at fault."""

    def __init__(self, message: str, *, scenario: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.scenario = scenario
        self.param = param
