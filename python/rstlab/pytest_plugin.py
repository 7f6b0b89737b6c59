"""rstlab's pytest plugin, registered through the ``pytest11`` entry point (nothing to enable).

Markers
    ``rstlab_root``: the test needs real root and tracefs (the lab's kernel oracle);
    ``rstlab_netns``: the test needs CAP_NET_ADMIN / CAP_SYS_ADMIN in this process (a composed
    ``rstlab.lab.Lab``);
    ``rstlab_userns``: the test runs catalogue scenarios, which work as root and, without kernel
    reasons, as an ordinary user (the lab enters a user namespace by itself).
    A test whose need is not met is skipped with the reason; ``--rstlab-require-privileges``
    makes that an error instead (for CI machines that must run them).

Options
    ``--rstlab-keep-captures DIR``: keep there the captures of every failing test — whatever
    made it fail (an :func:`assert_reset`, a plain ``assert``, an exception) and in whichever
    phase — : each lab run it made (catalogue or composed) and each capture it read through
    ``rstlab_capture``, as pcapng with each RST's cause as a packet comment; the report lists
    their paths. Without it, :func:`assert_reset` keeps its capture in a temporary directory
    and prints the path.

Fixtures
    ``rstlab_scenario``: parametrizes a test over the lab's whole catalogue, one test per
    scenario (ids are the scenario names); its value is the scenario's description, a dict as
    ``rstlab.lab.scenarios()`` gives it (``name``, ``ip_versions``, ``expect_causes``, ...);
    ``rstlab_capture``: a factory, ``rstlab_capture(path, **read_options)`` → :class:`Trace`;
    ``assert_reset``: :func:`assert_reset`, for tests that prefer a fixture to an import;
    ``rstlab_keep_dir``: the directory captures are kept in;
    ``lab``: the lab (skips with "rstlab lab not available" when this build has none).

File names carry the xdist worker id and the process id, so parallel workers never collide.
"""

from __future__ import annotations

import errno as _errno
import importlib
import itertools
import os
import re
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator, Mapping, Sequence

import pytest

from . import privileges

if TYPE_CHECKING:
    import pluggy

    from .rows import ResetRow
    from .lab import Run
    from .trace import Connection, Trace

__all__ = ["assert_reset", "keep_capture"]

#: marker name → the need it states (see :mod:`rstlab.privileges`)
MARKERS = {
    "rstlab_root": ("root", "needs real root (euid 0 in the initial user namespace) and tracefs"),
    "rstlab_netns": ("netns", "needs CAP_NET_ADMIN and CAP_SYS_ADMIN to create network namespaces"),
    "rstlab_userns": ("userns", "needs lab runs: root, or an ordinary user allowed user namespaces"),
}
_SENDER = {"client": "orig", "server": "resp", "orig": "orig", "resp": "resp"}
_ROLE_NAME = {"orig": "client", "resp": "server"}

_keep_dir: Path | None = None
_counter = itertools.count(1)
_kept: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()
_traces_key = pytest.StashKey[list["Trace"]]()
_runs_key = pytest.StashKey[list["Run"]]()
_outer_keep_key = pytest.StashKey["Path | None"]()


# -- configuration ---------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rstlab")
    group.addoption("--rstlab-require-privileges", action="store_true", default=False,
                    help="fail (instead of skip) tests marked rstlab_root / rstlab_netns / rstlab_userns whose "
                         "privileges are missing")
    group.addoption("--rstlab-keep-captures", metavar="DIR", default=None,
                    help="keep the captures of failing tests in DIR (pcapng with RST causes)")


def pytest_configure(config: pytest.Config) -> None:
    global _keep_dir
    for name, (_need, text) in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    keep = config.getoption("rstlab_keep_captures", None)
    # A session nested in this process (pytester) gets its own setting, restored on unconfigure.
    config.stash[_outer_keep_key] = _keep_dir
    _keep_dir = Path(keep).resolve() if keep else None


def pytest_unconfigure(config: pytest.Config) -> None:
    global _keep_dir
    _keep_dir = config.stash.get(_outer_keep_key, None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name, (need, _text) in MARKERS.items():
        if item.get_closest_marker(name) is None:
            continue
        reason = privileges.missing(need)
        if reason is None:
            continue
        if item.config.getoption("rstlab_require_privileges"):
            pytest.fail(f"{name}: {reason} (--rstlab-require-privileges is set)", pytrace=False)
        pytest.skip(f"{name}: {reason}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rstlab_scenario" in metafunc.fixturenames:
        from .lab import scenarios

        catalogue = scenarios()
        metafunc.parametrize("rstlab_scenario", catalogue, ids=[s["name"] for s in catalogue], indirect=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Every lab run the test makes (setup, call, teardown; any thread), for the report below.
    try:
        from .lab import observe_runs
    except ModuleNotFoundError:  # a build without the lab (see the `lab` fixture) makes no runs
        yield
        return
    runs: list[Run] = []
    item.stash[_runs_key] = runs
    with observe_runs(runs.append):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or _keep_dir is None:
        return
    from .errors import RstlabError

    made = [*item.stash.get(_runs_key, []), *item.stash.get(_traces_key, [])]
    paths = []
    for t in made:
        try:
            paths.append(f"kept: {keep_capture(t, _test_name(item.nodeid))}")
        except (OSError, RstlabError) as e:  # a full disk must not hide the test's own failure
            paths.append(f"not kept: {e}")
    if paths:
        report.sections.append(("rstlab captures", "\n".join(paths)))


# -- keeping captures ------------------------------------------------------------------------

def keep_dir() -> Path:
    """Where captures are kept: ``--rstlab-keep-captures`` or a per-user temporary directory."""
    d = _keep_dir or _default_keep_dir()
    d.mkdir(parents=True, exist_ok=True)
    return d


def _default_keep_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"rstlab-captures-{os.getuid()}"


def _test_name(nodeid: str | None = None) -> str:
    if nodeid is None:
        # "tests/test_x.py::test_y[param] (call)", set by pytest for the running test.
        nodeid = os.environ.get("PYTEST_CURRENT_TEST", "capture").rsplit(" ", 1)[0]
    name = nodeid.split("::", 1)[-1] if "::" in nodeid else nodeid
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:80] or "capture"


def keep_capture(trace: Any, name: str | None = None) -> str:
    """Write ``trace`` (a Trace, or a lab run, whose comments add the kernel's reasons) as
    pcapng, each RST's cause as a packet comment, into :func:`keep_dir` under a name unique
    across xdist workers and processes, once; return its path."""
    if trace in _kept:
        return _kept[trace]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    stem = f"{name or _test_name()}-{worker}-{os.getpid()}"
    d = keep_dir()
    while True:
        p = d / f"{stem}-{next(_counter)}.pcapng"
        if not p.exists():
            break
    trace.write_pcapng(p)
    _kept[trace] = str(p)
    return str(p)


# -- fixtures --------------------------------------------------------------------------------

@pytest.fixture
def rstlab_capture(request: pytest.FixtureRequest) -> Callable[..., "Trace"]:
    """A factory: ``rstlab_capture(path, **read_options)`` reads a capture (``rstlab.read``);
    the captures a failing test read are kept when ``--rstlab-keep-captures`` is given."""
    from . import read

    traces: list[Trace] = []
    request.node.stash[_traces_key] = traces

    def capture(path: str | os.PathLike[str], **options: Any) -> "Trace":
        t = read(path, **options)
        traces.append(t)
        return t

    return capture


@pytest.fixture
def rstlab_scenario(request: pytest.FixtureRequest) -> dict[str, Any]:
    """One scenario of the lab's catalogue, as ``rstlab.lab.scenarios()`` describes it: a test
    that takes this fixture runs once per scenario, with the scenario's name as its id
    (``pytest -k s11_linger_zero`` picks one)."""
    return dict(request.param)


@pytest.fixture
def rstlab_watch() -> Iterator[Callable[..., Any]]:
    """A factory: ``rstlab_watch(**options)`` starts :func:`rstlab.watch` (this namespace by
    default; ``netns=``, ``interface=``, ``settle=``...) while the test drives a real service;
    ``w.collect()`` ends it and returns every RST row seen. Skips with the reason when this
    process may not capture; every watch still open is closed at teardown."""
    from .errors import PrivilegeError
    from .live import Watch

    started: list[Watch] = []

    def start(**options: Any) -> Watch:
        try:
            w = Watch(**options)
        except PrivilegeError as e:
            pytest.skip(f"rstlab watch: {e}")
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


@pytest.fixture(name="assert_reset")
def _assert_reset_fixture() -> Callable[..., list[ResetRow]]:
    """:func:`assert_reset`."""
    return assert_reset


@pytest.fixture
def rstlab_keep_dir() -> Path:
    """The directory where captures are kept (``--rstlab-keep-captures`` or a temporary one)."""
    return keep_dir()


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Any:
    """The ``rstlab.lab`` module: skipped with "rstlab lab not available" when this build has
    none, and with the lab's own reason when it says it cannot run here (an error instead under
    ``--rstlab-require-privileges``).

    Extension point: the lead may return a richer object here (e.g. one whose runs keep their
    captures in :func:`keep_dir`).
    """
    try:
        lab_module = importlib.import_module("rstlab.lab")
    except ModuleNotFoundError as e:
        # Only the module's own absence is a skip; a broken import inside it is a real error.
        if e.name not in ("rstlab.lab", "rstlab._rstlab.lab"):
            raise
        pytest.skip("rstlab lab not available")
    check = getattr(lab_module, "privileges", None)
    reason = check() if callable(check) else None
    if reason:
        if request.config.getoption("rstlab_require_privileges"):
            pytest.fail(f"lab: {reason} (--rstlab-require-privileges is set)", pytrace=False)
        pytest.skip(f"lab: {reason}")
    return lab_module


# -- assertions ------------------------------------------------------------------------------

def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _errno_name(e: Any) -> str:
    if isinstance(e, int):
        return _errno.errorcode.get(e, str(e))
    return str(e).upper()


def _resolve(obj: Any) -> tuple["Trace | None", "Connection | None", list[Mapping[str, Any]] | None]:
    """(trace, connection, app events) of a Trace, a Connection or a lab run."""
    from .trace import Trace

    if isinstance(obj, Trace):
        return obj, None, None
    if hasattr(obj, "segments") and hasattr(obj, "row"):
        return getattr(obj, "trace", None), obj, None
    trace = _get(obj, "trace")
    if isinstance(trace, Trace):
        # rstlab.lab's Run calls them app_events (a Table of row dicts).
        events = _get(obj, "events")
        if events is None:
            events = _get(obj, "app_events")
        return trace, None, list(events) if events is not None else None
    raise TypeError(f"assert_reset takes a Trace, a Connection or a lab run, not {type(obj).__name__}")


def _describe_reset(r: Mapping[str, Any]) -> str:
    return (f"frame {r['frame']} conn {r['conn_id']}: {r['sender']} ({_ROLE_NAME.get(r['sender'], '?')}) "
            f"[{r['flags']}] {r['phase']}, cause {r['cause']} ({float(r['confidence']):.2f}), "
            f"{r['origin']}, {r['effect']}")


def assert_reset(obj: "Trace | Connection | Any", cause: str | None = None,
                 sender: str | None = None, errno: int | str | None = None, *,
                 conn_id: int | None = None) -> list[ResetRow]:
    """Assert that ``obj`` (a Trace, a Connection or a lab run) holds a RST with this ``cause``
    sent by ``sender`` (``"client"``/``"orig"`` or ``"server"``/``"resp"``); ``None`` matches
    anything. ``errno`` (a number or a name such as ``"ECONNRESET"``) is checked against a lab
    run's application events on the receiving side. Returns the matching reset rows.

    On failure the message shows what was expected and found, a text ladder of the connection
    (each RST marked with its cause) and the path of the kept pcapng.
    """
    __tracebackhide__ = True
    from .causes import Cause
    from .errors import RstlabError

    if cause is not None:
        cause = str(Cause(cause))  # a misspelt cause is a ValueError, not a failing assertion
    want_sender = None
    if sender is not None:
        if sender not in _SENDER:
            raise ValueError(f"sender must be one of {', '.join(_SENDER)}, not {sender!r}")
        want_sender = _SENDER[sender]
    trace, conn, events = _resolve(obj)
    if conn is not None:
        resets = list(conn.resets)
    elif trace is not None:
        resets = list(trace.resets)
    else:  # pragma: no cover - _resolve raises first
        resets = []
    if conn_id is not None:
        resets = [r for r in resets if int(r["conn_id"]) == conn_id]

    matching = [r for r in resets if (cause is None or r["cause"] == cause)
                and (want_sender is None or r["sender"] == want_sender)]
    problems: list[str] = []
    if not matching:
        problems.append("no matching RST")
    if errno is not None:
        want = _errno_name(errno)
        if events is None:
            problems.append(f"errno={want} can only be checked on a lab run (it has the "
                            f"applications' events); got a {type(obj).__name__}")
        else:
            # The errno is seen by the application on the side that received the RST.
            receivers = ({"server" if want_sender == "orig" else "client"} if want_sender
                         else {"client", "server"})
            seen = [e for e in events if str(_get(e, "host", "")).lower() in receivers]
            if not any(_get(e, "errno") is not None and _errno_name(_get(e, "errno")) == want
                       for e in seen):
                problems.append(f"no {want} seen by the {' or '.join(sorted(receivers))}")
    if not problems:
        return matching

    expected = ", ".join(f"{k}={v}" for k, v in (("cause", cause), ("sender", sender),
                                                  ("errno", _errno_name(errno) if errno is not None else None),
                                                  ("conn_id", conn_id)) if v is not None) or "any"
    lines = [f"expected a RST with {expected}: {'; '.join(problems)}"]
    where = f"connection {conn.conn_id}" if conn is not None else (
        os.path.basename(trace.path) if trace is not None else "the capture")
    if resets:
        lines.append(f"actual RSTs in {where}:")
        lines += [f"  {_describe_reset(r)}" for r in resets]
    else:
        lines.append(f"actual: no RST in {where}")
    if events:
        from .plot import event_label

        lines.append("application events:")
        lines += [f"  {_get(e, 'host', '?')}: {event_label(e)}" for e in events]
    for c in _ladder_connections(trace, conn, resets, conn_id):
        lines.append(f"ladder of connection {c.conn_id} (state {c.row.get('conn_state')}, "
                     f"history {c.row.get('history')}):")
        lines.append(c.ladder(max_segments=40))
    # A lab run writes its own capture (with the kernel's reasons); a Trace re-writes its file.
    keeper = obj if events is not None and hasattr(obj, "write_pcapng") else trace
    if keeper is not None:
        try:
            lines.append(f"capture kept: {keep_capture(keeper)} (RST causes as packet comments)")
        except (OSError, RstlabError) as e:
            lines.append(f"capture not kept: {e}")
    else:
        lines.append("capture not kept: this connection has no trace")
    raise AssertionError("\n".join(lines))


def _ladder_connections(trace: "Trace | None", conn: "Connection | None",
                        resets: Sequence[Mapping[str, Any]], conn_id: int | None,
                        limit: int = 3) -> list["Connection"]:
    if conn is not None:
        return [conn]
    if trace is None:
        return []
    if conn_id is not None:
        ids = [conn_id]
    else:
        ids = list(dict.fromkeys(int(r["conn_id"]) for r in resets))
        if not ids:
            ids = [int(c) for c in trace.connections["conn_id"]]
    out = []
    for cid in ids[:limit]:
        try:
            out.append(trace.connection(cid))
        except KeyError:
            continue
    return out
