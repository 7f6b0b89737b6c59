"""rstlab explains TCP resets.

- :func:`read` a capture and get its connections (Zeek-compatible ``conn_state`` / ``history``,
  Wireshark-compatible ``conn_id``) and segments as Arrow-backed tables; :func:`read_many`
  reads many at once (a ``capture`` column in front), :mod:`rstlab.dask` on a Dask cluster.

Events the Rust core notices — a damaged record, a link type it does not decode, a lab run
without the kernel oracle — are logged through :mod:`logging` under ``rstlab.trace`` and
``rstlab.lab`` (never per packet). Like any library, rstlab adds no handler but a
:class:`logging.NullHandler`: configure logging (``logging.basicConfig()``) to see them.
"""

import logging as _logging

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
from .table import Table, evidence_text
from .trace import Connection, Trace, iter_batches, read
from .many import Captures, read_many
from . import lab  # rstlab.lab.run(...), as the README shows
from .live import Watch, watch

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "__version__",
    "read",
    "iter_batches",
    "read_many",
    "Captures",
    "lab",
    "watch",
    "Watch",
    "Cause",
    "Trace",
    "Connection",
    "Table",
    "evidence_text",
    "RstlabError",
    "TraceFormatError",
    "UnsupportedLinkTypeError",
    "PrivilegeError",
    "ScenarioTimeout",
    "LabError",
    "ScenarioError",
]
