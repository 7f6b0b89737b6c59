"""The pytest plugin, driven through pytester: markers, skips, the options, fixtures, messages."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import rstlab.privileges as privileges
from rstlab import pytest_plugin

pytest_plugins = ["pytester"]

NO_ROOT = "needs real root (running as uid 1000): run the tests as root"
NO_NETNS = "needs CAP_SYS_ADMIN to create network namespaces: run as root or inside a user namespace (unshare -rn)"

MARKED = """
import pytest

@pytest.mark.rstlab_root
def test_root():
    pass

@pytest.mark.rstlab_netns
def test_netns():
    pass

def test_plain():
    pass
"""


@pytest.fixture
def unprivileged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privileges, "missing_root", lambda: NO_ROOT)
    monkeypatch.setattr(privileges, "missing_netns", lambda: NO_NETNS)


@pytest.fixture
def privileged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privileges, "missing_root", lambda: None)
    monkeypatch.setattr(privileges, "missing_netns", lambda: None)


def test_registered_as_entry_point() -> None:
    eps = [ep for ep in entry_points(group="pytest11") if ep.name == "rstlab"]
    assert [ep.value for ep in eps] == ["rstlab.pytest_plugin"]


def test_markers_are_declared(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.rstlab_root: needs real root*tracefs",
                                 "@pytest.mark.rstlab_netns: needs CAP_NET_ADMIN*"])
    # Strict markers accept them.
    pytester.makepyfile(MARKED)
    assert pytester.runpytest("--strict-markers").ret == 0


def test_markers_skip_with_the_reason(pytester: pytest.Pytester, unprivileged: None) -> None:
    pytester.makepyfile(MARKED)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines([f"SKIPPED*rstlab_root: {NO_ROOT}",
                                 f"SKIPPED*rstlab_netns: {NO_NETNS}"])


def test_markers_run_when_privileged(pytester: pytest.Pytester, privileged: None) -> None:
    pytester.makepyfile(MARKED)
    pytester.runpytest().assert_outcomes(passed=3)


def test_require_privileges_turns_skips_into_errors(pytester: pytest.Pytester,
                                                    unprivileged: None) -> None:
    pytester.makepyfile(MARKED)
    result = pytester.runpytest("--rstlab-require-privileges")
    result.assert_outcomes(passed=1, errors=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*rstlab_root: {NO_ROOT} (--rstlab-require-privileges is set)*"])


def test_privilege_probes(tmp_path: Path) -> None:
    status = "Name:\tx\nCapEff:\t0000000000001000\n"
    assert privileges.effective_caps(status) == 1 << privileges.CAP_NET_ADMIN
    assert privileges.effective_caps("Name:\tx\n") == 0
    assert privileges.initial_user_namespace("         0          0 4294967295\n")
    assert not privileges.initial_user_namespace("         0       1000          1\n")
    with pytest.raises(ValueError):
        privileges.missing("wings")
    # tracefs: mounted, or known to the kernel so the lab mounts its own (a fresh boot has none
    # mounted); /proc/filesystems lists it as "nodev<TAB>tracefs" (proc(5)).
    procfs = tmp_path / "filesystems"
    procfs.write_text("nodev\tsysfs\nnodev\ttracefs\n\text4\n")
    nowhere = (str(tmp_path / "no-tracing"),)
    assert privileges.tracefs_available(nowhere, str(procfs))
    procfs.write_text("nodev\tsysfs\n\text4\n")
    assert not privileges.tracefs_available(nowhere, str(procfs))
    (tmp_path / "tracing" / "events").mkdir(parents=True)
    assert privileges.tracefs_available((str(tmp_path / "tracing"),), str(procfs))
    # On this machine: the answer agrees with the process's own credentials.
    if os.geteuid() != 0:
        assert privileges.missing_root() is not None


CAPTURE_TESTS = """
import pytest
from rstlab.pytest_plugin import assert_reset

INJECT = {inject!r}

def test_reads(rstlab_capture):
    t = rstlab_capture(INJECT)
    assert len(t.resets) == 3
    rows = assert_reset(t, cause="injected", sender="server")
    assert [r["frame"] for r in rows] == [2]

def test_fixture_form(rstlab_capture, assert_reset):
    conn = rstlab_capture(INJECT).connection(0)
    assert_reset(conn, cause="no_connection", sender="resp")

def test_wrong_cause(rstlab_capture):
    t = rstlab_capture(INJECT)
    assert_reset(t, cause="refused", sender="server")

def test_wrong_sender(rstlab_capture):
    assert_reset(rstlab_capture(INJECT).connection(0), cause="abort", sender="client")

def test_errno_needs_a_run(rstlab_capture):
    assert_reset(rstlab_capture(INJECT), cause="abort", errno="ECONNRESET")
"""


def run_capture_tests(pytester: pytest.Pytester, traces: Path, *args: str) -> pytest.RunResult:
    pytester.makepyfile(CAPTURE_TESTS.format(inject=str(traces / "zeek/tcp/rst-inject-rae.pcap")))
    return pytester.runpytest(*args)


def test_assert_reset_messages(pytester: pytest.Pytester, traces: Path) -> None:
    keep = pytester.path / "kept"
    result = run_capture_tests(pytester, traces, f"--rstlab-keep-captures={keep}")
    result.assert_outcomes(passed=2, failed=3)
    out = result.stdout.str()
    # Expected vs actual: MANIFEST says the capture's three RSTs are frames 2, 7 and 9, all from
    # the responder (1.2.0.3), the first forged.
    assert "expected a RST with cause=refused, sender=server: no matching RST" in out
    assert "actual RSTs in rst-inject-rae.pcap:" in out
    assert "frame 2 conn 0: resp (server) [R.e] handshake, cause injected" in out
    assert "expected a RST with cause=abort, sender=client: no matching RST" in out
    assert "actual RSTs in connection 0:" in out
    assert "errno=ECONNRESET can only be checked on a lab run" in out
    # The ladder: both endpoints, every frame, RSTs marked with their cause.
    assert "1.2.0.2:2527" in out and "1.2.0.3:6649" in out
    assert "RST: injected" in out and "RST: no_connection" in out
    # The kept capture: one file per failing test, in the keep dir, and it is a pcapng that
    # reads back with the same resets.
    kept = sorted(keep.glob("*.pcapng"))
    assert len(kept) == 3
    for p in kept:
        assert f"capture kept: {p}" in out
    import rstlab

    back = rstlab.read(kept[0])
    assert list(back.resets["frame"]) == [2, 7, 9]
    # Test names make the file names; the plugin's failure section does not write them twice.
    assert {p.name.split("-")[0] for p in kept} == {"test_wrong_cause", "test_wrong_sender",
                                                   "test_errno_needs_a_run"}
    assert "rstlab captures" in out


def test_assert_reset_without_keep_dir_uses_tmp(pytester: pytest.Pytester, traces: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pytest_plugin, "_default_keep_dir", lambda: pytester.path / "tmp")
    result = run_capture_tests(pytester, traces, "-k", "wrong_cause")
    result.assert_outcomes(failed=1, deselected=4)
    kept = list((pytester.path / "tmp").rglob("*.pcapng"))
    assert len(kept) == 1 and f"capture kept: {kept[0]}" in result.stdout.str()


def test_assert_reset_bad_arguments(traces: Path) -> None:
    import rstlab

    t = rstlab.read(traces / "zeek/tcp/rst-inject-rae.pcap")
    with pytest.raises(ValueError):
        pytest_plugin.assert_reset(t, cause="refusd")
    with pytest.raises(ValueError):
        pytest_plugin.assert_reset(t, sender="middlebox")
    with pytest.raises(TypeError):
        pytest_plugin.assert_reset("file.pcap", cause="abort")


class Run:
    """The shape of a lab run that assert_reset reads: a trace and the applications' events."""

    def __init__(self, trace, events):
        self.trace = trace
        self.events = events


def test_assert_reset_errno_on_a_run(traces: Path) -> None:
    import errno

    import rstlab

    t = rstlab.read(traces / "zeek/tcp/rst-inject-rae.pcap")
    run = Run(t, [{"host": "client", "call": "recv", "errno": "ECONNRESET", "ts": 0.0}])
    assert pytest_plugin.assert_reset(run, cause="abort", sender="server", errno=errno.ECONNRESET)
    with pytest.raises(AssertionError, match="no EPIPE seen by the client"):
        pytest_plugin.assert_reset(run, cause="abort", sender="server", errno="EPIPE")
    # The server sent the RST, so only the client can see ECONNRESET from it.
    with pytest.raises(AssertionError, match="no ECONNRESET seen by the server"):
        pytest_plugin.assert_reset(run, cause=None, sender="client", errno="ECONNRESET")


def test_xdist_workers_keep_distinct_files(pytester: pytest.Pytester, traces: Path) -> None:
    pytest.importorskip("xdist")
    keep = pytester.path / "kept"
    result = run_capture_tests(pytester, traces, "-n", "2", "-p", "no:cacheprovider",
                               f"--rstlab-keep-captures={keep}")
    result.assert_outcomes(passed=2, failed=3)
    kept = sorted(keep.glob("*.pcapng"))
    assert len(kept) == 3 and all("-gw" in p.name for p in kept)


def test_lab_fixture_skips_without_the_lab(pytester: pytest.Pytester,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    pytester.makepyfile("""
        def test_uses_lab(lab):
            assert lab.__name__ == "rstlab.lab"
    """)
    monkeypatch.setitem(sys.modules, "rstlab.lab", None)  # import now raises ModuleNotFoundError
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*rstlab lab not available*"])


def test_lab_fixture_honours_the_labs_privilege_check(pytester: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    lab = pytest.importorskip("rstlab.lab")
    pytester.makepyfile("""
        def test_uses_lab(lab):
            assert lab.__name__ == "rstlab.lab"
    """)
    monkeypatch.setattr(lab, "privileges", lambda: None)
    pytester.runpytest().assert_outcomes(passed=1)
    monkeypatch.setattr(lab, "privileges", lambda: "lab runs need root: run as root")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*lab: lab runs need root: run as root"])
    result = pytester.runpytest("--rstlab-require-privileges")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lab: lab runs need root: run as root (--rstlab-require-privileges is set)*"])


def test_rstlab_scenario_parametrizes_over_the_catalogue(pytester: pytest.Pytester) -> None:
    import rstlab

    pytester.makepyfile("""
        def test_each(rstlab_scenario):
            assert set(rstlab_scenario["ip_versions"]) <= {4, 6} and rstlab_scenario["intent"]
    """)
    names = [s["name"] for s in rstlab.lab.scenarios()]
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=len(names))
    ids = [line.split("[", 1)[1].split("]", 1)[0] for line in result.stdout.lines if "::test_each[" in line]
    assert ids == names
    # The ids select: one scenario by name.
    result = pytester.runpytest("-k", "s11_linger_zero")
    result.assert_outcomes(passed=1, deselected=len(names) - 1)


FAILING_LAB_TESTS = """
import rstlab

def test_plain_assert_fails():
    run = rstlab.lab.run("s1_closed_port")
    assert run.verdict == "not what the kernel did"

def test_passes():
    rstlab.lab.run("s1_closed_port")

def test_fails_without_a_run():
    assert 1 + 1 == 3
"""


@pytest.mark.rstlab_userns
def test_a_failing_lab_test_keeps_its_capture(pytester: pytest.Pytester, tshark: str) -> None:
    import subprocess

    keep = pytester.path / "kept"
    pytester.makepyfile(FAILING_LAB_TESTS)
    result = pytester.runpytest(f"--rstlab-keep-captures={keep}")
    result.assert_outcomes(passed=1, failed=2)
    # Only the failing test that made a run leaves a capture, and its report says where.
    [kept] = sorted(keep.glob("*.pcapng"))
    assert kept.name.startswith("test_plain_assert_fails-")
    assert f"kept: {kept}" in result.stdout.str()
    # It is the run's capture: a closed port answers the SYN with one RST (RFC 9293 §3.10.7.1).
    rsts = subprocess.run([tshark, "-r", str(kept), "-Y", "tcp.flags.reset == 1 && frame.interface_id == 0",
                           "-T", "fields", "-e", "frame.comment"], capture_output=True, text=True, check=True)
    assert len(rsts.stdout.splitlines()) == 1 and "rstlab: refused" in rsts.stdout
