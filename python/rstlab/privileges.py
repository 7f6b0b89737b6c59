"""What this process may do: the checks behind the pytest markers and the notebooks' skips.

Each function returns ``None`` when the need is met, else the reason it is not, worded to say
what to do. Nothing here changes anything.
"""

from __future__ import annotations

import os

__all__ = ["missing", "missing_root", "missing_netns", "missing_userns", "NEEDS"]

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")

#: The needs a test or a lab run can state, by name: ``root`` (the kernel oracle), ``netns``
#: (namespaces in this very process: a composed ``rstlab.lab.Lab``), ``userns`` (catalogue runs:
#: as root, or as an ordinary user inside a user namespace the lab enters by itself).
NEEDS = ("root", "netns", "userns")

#: How someone who installed with pip runs a test suite as root (no Makefile, no checkout).
AS_ROOT = 'sudo "$(which python)" -m pytest'



def _status(pid: str = "self") -> str:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            return f.read()
    except OSError:
        return ""


def effective_caps(status_text: str) -> int:
    """The effective capability set from the text of ``/proc/<pid>/status`` (0 if absent)."""
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def initial_user_namespace(uid_map_text: str) -> bool:
    """Whether a ``/proc/<pid>/uid_map`` is the identity map of the initial user namespace."""
    rows = [line.split() for line in uid_map_text.splitlines() if line.strip()]
    return rows == [["0", "0", "4294967295"]]


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except OSError:
        return ""


def tracefs_available(mounted: tuple[str, ...] = TRACEFS, filesystems: str = "/proc/filesystems") -> bool:
    """Whether the kernel oracle can reach tracefs: mounted at a usual place, or known to the
    kernel, in which case the lab mounts a private instance of it for the run (as a freshly
    booted machine, with nothing mounted at /sys/kernel/tracing, needs)."""
    if any(os.path.isdir(os.path.join(d, "events")) for d in mounted):
        return True
    return any(line.split()[-1:] == ["tracefs"] for line in _read(filesystems).splitlines())


def missing_root() -> str | None:
    """Real root (euid 0 in the initial user namespace) on a kernel with tracefs, as the lab's
    kernel oracle reads the kernel's reset reasons from tracepoints."""
    if os.geteuid() != 0:
        return (f"needs real root for the kernel oracle (running as uid {os.geteuid()}; lab runs "
                f"without kernel reasons work as this user): run `{AS_ROOT}`")
    if not initial_user_namespace(_read("/proc/self/uid_map")):
        return (f"needs real root for the kernel oracle, not root inside a user namespace: run "
                f"`{AS_ROOT}` on the host")
    try:
        from . import _rstlab
    except ImportError:
        _rstlab = None  # type: ignore[assignment]
    if _rstlab is not None:
        # The lab's own answer: it finds tracefs, or mounts a private one, exactly as a run does.
        why = _rstlab.oracle_check()
        return None if why is None else f"needs the kernel oracle: {why}"
    if not tracefs_available():
        return "needs a kernel with tracefs (CONFIG_TRACING) for the kernel oracle: this one has none"
    return None


def missing_netns() -> str | None:
    """CAP_NET_ADMIN and CAP_SYS_ADMIN (creating network namespaces and configuring them)."""
    caps = effective_caps(_status())
    lacking = [name for bit, name in ((CAP_NET_ADMIN, "CAP_NET_ADMIN"), (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"))
               if not caps >> bit & 1]
    if lacking:
        return (f"needs {' and '.join(lacking)} to create network namespaces in this process: run as "
                f"root or inside a user namespace (unshare -rn)")
    return None


def missing_userns() -> str | None:
    """Catalogue lab runs: as root, in this process; as an ordinary user, each in a child that
    enters a user namespace (the lab probes that once, by doing it in a child that changes
    nothing). Without the compiled lab, the reason says so."""
    try:
        from . import lab
    except ImportError as e:
        return f"needs the compiled lab (rstlab.lab): {e}"
    return lab.privileges()


def missing(need: str) -> str | None:
    """The reason ``need`` (one of :data:`NEEDS`) is not met, or ``None``."""
    if need == "root":
        return missing_root()
    if need == "netns":
        return missing_netns()
    if need == "userns":
        return missing_userns()
    raise ValueError(f"unknown need {need!r}: one of {', '.join(NEEDS)}")
