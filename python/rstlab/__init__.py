"""rstlab explains TCP resets.

- :func:`read` a capture and get its connections (Zeek-compatible ``conn_state`` / ``history``,
  Wireshark-compatible ``conn_id``) and segments as Arrow-backed tables.
"""

from ._rstlab import __version__
from .causes import Cause
from .errors import (
    LabError,
    PrivilegeError,
    RstlabError,
    ScenarioError,
    ScenarioTimeout,
    TraceFormatError,
    UnsupportedLinkTypeError,
)
from .table import Table
from .trace import Connection, Trace, read
from . import lab  # rstlab.lab.run(...), as the README shows
from .live import Watch, watch

__all__ = [
    "__version__",
    "read",
    "lab",
    "watch",
    "Watch",
    "Cause",
    "Trace",
    "Connection",
    "Table",
    "RstlabError",
    "TraceFormatError",
    "UnsupportedLinkTypeError",
    "PrivilegeError",
    "ScenarioTimeout",
    "LabError",
    "ScenarioError",
]
