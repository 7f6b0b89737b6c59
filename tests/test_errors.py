"""The error boundary: every failure reaches Python as an ``rstlab.errors`` class that is also the
stdlib class users already catch (STYLE.md), with its context as attributes, or — for a failed
system call — as the ``OSError`` subclass Python's own I/O raises for that errno.

Expected values come from the OS (``errno`` constants, ``os.strerror``, the capabilities in
``/proc/self/status``) and from the files the tests write, not from what rstlab printed.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import textwrap
from pathlib import Path

import pytest

import rstlab
import rstlab.errors
from capwriter import Conv, Rec, ethernet, ng_epb, ng_idb, ng_shb, pcap

# The stdlib class each rstlab exception must also be (STYLE.md, "Errors").
STDLIB_BASE = {
    "RstlabError": Exception,
    "TraceFormatError": ValueError,
    "UnsupportedLinkTypeError": ValueError,
    "PrivilegeError": PermissionError,
    "ScenarioTimeout": TimeoutError,
    "LabError": OSError,
    "ScenarioError": ValueError,
}

# Capability numbers from linux/capability.h.
CAPABILITY_BITS = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21}

PCAP_HDR, REC_HDR = 24, 16
FRAMES = [ethernet(0x0800, ip) for ip in Conv("10.0.0.1", "10.0.0.2", 40000, 80).handshake_data_rst()]


# --- the classes ---------------------------------------------------------------------------------


def test_every_error_class_is_exported_from_rstlab() -> None:
    assert set(rstlab.errors.__all__) == set(STDLIB_BASE)
    for name in rstlab.errors.__all__:
        assert getattr(rstlab, name) is getattr(rstlab.errors, name)
        assert name in rstlab.__all__


@pytest.mark.parametrize("name", sorted(STDLIB_BASE))
def test_each_class_is_an_rstlab_error_and_the_stdlib_class(name: str) -> None:
    cls = getattr(rstlab.errors, name)
    assert issubclass(cls, rstlab.RstlabError)
    assert issubclass(cls, STDLIB_BASE[name])


def test_mro_puts_rstlab_before_the_stdlib_class() -> None:
    e = rstlab.errors
    assert e.TraceFormatError.__mro__[:3] == (e.TraceFormatError, e.RstlabError, ValueError)
    assert e.UnsupportedLinkTypeError.__mro__[:2] == (e.UnsupportedLinkTypeError, e.TraceFormatError)
    assert e.PrivilegeError.__mro__[:3] == (e.PrivilegeError, e.RstlabError, PermissionError)
    assert e.ScenarioTimeout.__mro__[:3] == (e.ScenarioTimeout, e.RstlabError, TimeoutError)
    assert e.LabError.__mro__[:3] == (e.LabError, e.RstlabError, OSError)
    assert e.ScenarioError.__mro__[:3] == (e.ScenarioError, e.RstlabError, ValueError)


SAMPLES = [
    rstlab.TraceFormatError("a.pcap: at byte offset 40: bad", path="a.pcap", offset=40, what="bad"),
    rstlab.UnsupportedLinkTypeError("b.pcap: link type 147", path="b.pcap", linktype=147, interface=2),
    rstlab.PrivilegeError("x needs CAP_NET_RAW: run as root", capability="CAP_NET_RAW", hint="run as root"),
    rstlab.ScenarioTimeout("scenario s timed out waiting for y", scenario="s"),
    rstlab.ScenarioError("scenario s: bad parameter `n`: not a number", scenario="s", param="n"),
    rstlab.LabError("creating /d/x: No such file or directory", errno=errno.ENOENT,
                    strerror=os.strerror(errno.ENOENT), filename="/d/x", scenario="s"),
    rstlab.LabError("command `nft` in host client failed (exit status: 1): no", scenario=None),
]


@pytest.mark.parametrize("exc", SAMPLES, ids=[type(s).__name__ for s in SAMPLES])
def test_pickling_keeps_the_message_and_every_attribute(exc: rstlab.RstlabError) -> None:
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc)
    attrs = ("path", "offset", "what", "linktype", "interface", "capability", "hint", "scenario",
             "param", "errno", "strerror", "filename")
    for a in attrs:
        assert getattr(back, a, "absent") == getattr(exc, a, "absent"), a


def test_lab_error_is_a_real_oserror() -> None:
    e = SAMPLES[5]
    assert (e.errno, e.strerror, e.filename) == (errno.ENOENT, os.strerror(errno.ENOENT), "/d/x")
    assert str(e) == "creating /d/x: No such file or directory"


# --- trace errors from real files ----------------------------------------------------------------


def test_missing_capture_is_file_not_found_with_the_filename(tmp_path: Path) -> None:
    p = tmp_path / "missing.pcap"
    with pytest.raises(FileNotFoundError) as info:
        rstlab.read(p)
    e = info.value
    assert (e.errno, e.strerror, e.filename) == (errno.ENOENT, os.strerror(errno.ENOENT), str(p))
    assert not isinstance(e, rstlab.RstlabError)
    # The errno is said once, the way Python's own OSError says it.
    assert str(e) == f"[Errno {errno.ENOENT}] {os.strerror(errno.ENOENT)}: {str(p)!r}"


def test_directory_is_is_a_directory_error_with_the_filename(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError) as info:
        rstlab.read(tmp_path)
    assert (info.value.errno, info.value.filename) == (errno.EISDIR, str(tmp_path))
    assert "os error" not in str(info.value)


def test_writing_pcapng_into_a_missing_directory_keeps_the_filename(tmp_path: Path) -> None:
    src = tmp_path / "ok.pcap"
    src.write_bytes(pcap(1, [Rec(1, i, f) for i, f in enumerate(FRAMES)]))
    dst = tmp_path / "no-such-dir" / "out.pcapng"
    with pytest.raises(FileNotFoundError) as info:
        rstlab.read(src).write_pcapng(dst)
    assert (info.value.errno, info.value.filename) == (errno.ENOENT, str(dst))


def test_truncated_capture_says_where_and_what_and_keeps_the_trace(tmp_path: Path) -> None:
    recs = [Rec(1, i, f) for i, f in enumerate(FRAMES)]
    data = pcap(1, recs)
    last = PCAP_HDR + sum(REC_HDR + len(r.data) for r in recs[:-1])
    p = tmp_path / "cut.pcap"
    p.write_bytes(data[: last + REC_HDR + 3])  # the last record's header and 3 bytes of its data
    with pytest.raises(rstlab.TraceFormatError) as info:
        rstlab.read(p)
    e = info.value
    assert (e.path, e.offset) == (str(p), last)
    assert e.what and str(e) == f"{p}: at byte offset {last}: {e.what}"
    assert isinstance(e.trace, rstlab.Trace) and e.trace.counts["frames"] == len(recs) - 1

    t = rstlab.read(p, errors="keep")
    assert isinstance(t.error, rstlab.TraceFormatError) and t.error.trace is t
    assert (t.error.path, t.error.offset, t.error.what) == (e.path, e.offset, e.what)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_unsupported_link_type_names_it_and_its_interface(tmp_path: Path, fmt: str) -> None:
    # LINKTYPE_USER0 (147): reserved for private use, so no reader decodes it.
    if fmt == "pcap":
        data = pcap(147, [Rec(1, 0, b"\x01\x02\x03\x04")])
    else:
        data = ng_shb() + ng_idb(147) + ng_epb(0, 0, b"\x01\x02\x03\x04")
    p = tmp_path / f"user0.{fmt}"
    p.write_bytes(data)
    with pytest.raises(rstlab.UnsupportedLinkTypeError) as info:
        rstlab.read(p)
    e = info.value
    assert (e.path, e.linktype, e.interface) == (str(p), 147, 0)
    assert isinstance(e.trace, rstlab.Trace)


# --- lab errors ----------------------------------------------------------------------------------


def test_unknown_scenario_is_a_scenario_error_naming_it() -> None:
    # The catalogue is checked before any privilege: this needs none.
    with pytest.raises(rstlab.ScenarioError) as info:
        rstlab.lab.run("no_such_scenario")
    assert isinstance(info.value, ValueError)
    assert info.value.scenario == "no_such_scenario"
    assert "no_such_scenario" in str(info.value)


def test_missing_ip_version_is_a_scenario_error_naming_the_scenario() -> None:
    name = rstlab.lab.scenarios()[0]["name"]
    with pytest.raises(rstlab.ScenarioError) as info:
        rstlab.lab.run(name, ip_version=5)
    assert info.value.scenario == name


@pytest.mark.rstlab_netns  # a composed Lab needs namespaces in this very process
def test_composed_lab_errors_map_to_their_classes(lab, tmp_path: Path) -> None:
    with lab.Lab("errors_compose", 4) as l:
        # A role name that is none of the lab's roles is a bad argument (a ValueError).
        with pytest.raises(rstlab.ScenarioError) as info:
            l.addr("no_such_host")
        assert info.value.scenario == "errors_compose"
        assert all(r in str(info.value) for r in ("client", "server", "router"))
        with pytest.raises(rstlab.ScenarioError) as bad:
            l.heal(99)
        assert bad.value.scenario == "errors_compose"
        with pytest.raises(rstlab.ScenarioError):
            l.spawn("server", [])
        # proc(5): a sysctl is the file of its dotted name under /proc/sys.
        with pytest.raises(rstlab.LabError) as sysctl:
            l.sysctl("client", "net.ipv4.no_such_knob", "1")
        e = sysctl.value
        assert (e.errno, e.strerror, e.filename) == (errno.ENOENT, os.strerror(errno.ENOENT),
                                                      "/proc/sys/net/ipv4/no_such_knob")
        assert str(e).endswith(f": {os.strerror(errno.ENOENT)}") and "os error" not in str(e)
        s = l.socket("client")
        s.close()
        with pytest.raises(OSError) as closed:
            s.send(b"x")
        assert closed.value.errno == errno.EBADF
        run = l.finish()
    with pytest.raises(rstlab.ScenarioError):
        l.socket("client")  # a finished lab
    dst = tmp_path / "no-such-dir" / "run.pcapng"
    with pytest.raises(rstlab.LabError) as write:
        run.write_pcapng(dst)
    assert (write.value.errno, write.value.filename) == (errno.ENOENT, str(dst))


def test_bad_parameter_is_a_scenario_error_naming_it(lab) -> None:
    s = next(s for s in rstlab.lab.scenarios() if s["params"])
    param = s["params"][0].split("=", 1)[0]
    with pytest.raises(rstlab.ScenarioError) as info:
        rstlab.lab.run(s["name"], **{param: "not-a-value"})
    assert (info.value.scenario, info.value.param) == (s["name"], param)


# --- privileges, from a process that has none ----------------------------------------------------

UNPRIVILEGED = textwrap.dedent("""
    import json, rstlab
    caps = next(l for l in open("/proc/self/status") if l.startswith("CapEff:")).split()[1]
    out = {"capeff": int(caps, 16)}
    # Catalogue runs enter a user namespace by themselves (tests/test_userns.py); a composed
    # Lab lives in this process, which has no capability to build one.
    out["mode"] = rstlab.lab.mode()
    calls = {"lab": lambda: rstlab.lab.Lab()}
    if out["mode"] is None:
        name = rstlab.lab.scenarios()[0]["name"]
        calls |= {"run": lambda: rstlab.lab.run(name),
                  "run_all": lambda: rstlab.lab.run_all(names=[name], ip_versions=(4,))}
    for key, call in calls.items():
        try:
            call()
            out[key] = None
        except rstlab.PrivilegeError as e:
            out[key] = {"permission_error": isinstance(e, PermissionError), "capability": e.capability,
                        "hint": e.hint, "message": str(e)}
    try:
        rstlab.lab.run("no_such_scenario")
    except rstlab.ScenarioError as e:
        out["unknown"] = e.scenario
    print(json.dumps(out))
""")


def test_privilege_error_names_the_missing_capability_and_what_to_run(as_nobody) -> None:
    r = as_nobody(UNPRIVILEGED)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    if out["capeff"] & ((1 << CAPABILITY_BITS["CAP_SYS_ADMIN"]) | (1 << CAPABILITY_BITS["CAP_NET_ADMIN"])):
        pytest.skip(f"uid 65534 kept network capabilities here (CapEff {out['capeff']:#x})")
    assert out["mode"] in ("userns", None), out["mode"]
    for key in ("lab",) if out["mode"] else ("run", "lab", "run_all"):
        e = out[key]
        assert e is not None, f"{key} ran without privileges"
        assert e["permission_error"]
        assert e["capability"] in CAPABILITY_BITS
        assert not out["capeff"] >> CAPABILITY_BITS[e["capability"]] & 1, "named a capability it has"
        assert e["hint"] and e["message"].endswith(e["hint"]) and e["capability"] in e["message"]
        # What works without root, what needs it, in commands a pip user has (no Makefile).
        assert "rstlab run" in e["hint"] and "sudo" in e["hint"] and "make " not in e["hint"]
    # A name that is not in the catalogue is said as such, before any privilege is asked for.
    assert out["unknown"] == "no_such_scenario"
