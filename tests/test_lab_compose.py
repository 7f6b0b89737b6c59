"""A user testing their own server with the rstlab pytest plugin: the ``lab`` fixture (skips
with the reason without root), a scenario composed around the user's program, ``assert_reset``.

Expectations come from RFC 9293 and the kernel: a host that lost its connection state answers a
mid-connection segment with a RST (§3.10.7.1; Linux tcp_send_reset reason NO_SOCKET); SO_LINGER
{1,0} close() aborts with RST|ACK at SND.NXT (§3.10.5 ABORT) and the peer's next recv() fails
with ECONNRESET; a silenced network gives no RST at all.
"""

from __future__ import annotations

import errno
import os
import sys
import textwrap
import time

import pytest

import rstlab
from rstlab.pytest_plugin import assert_reset

# A composed Lab builds its namespaces in this process (catalogue runs alone can enter a user
# namespace by themselves): it needs CAP_NET_ADMIN / CAP_SYS_ADMIN here.
pytestmark = pytest.mark.rstlab_netns

# The user's program: a tiny echo server, started inside the server namespace.
SERVER = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)
    while True:
        c, _ = s.accept()
        while (d := c.recv(4096)):
            c.sendall(d)
        c.close()
""")


def after_startup(run) -> list[dict]:
    """The resets of the probe connection only: while the user's server starts, the probe's
    earlier connects are refused (RST answering a SYN), which is not what these tests look at."""
    last = max(run.resets["conn_id"], default=None)
    return [r for r in run.resets.to_pylist() if r["conn_id"] == last and r["cause"] != "refused"]


def start_server(l, port: int = 9000) -> tuple[str, int]:
    host = l.addr("server")
    l.spawn("server", [sys.executable, "-c", SERVER, host, str(port)])
    c = l.socket("client")
    for _ in range(100):  # wait until the user's server listens
        try:
            c.connect((host, port))
            break
        except OSError as e:
            if e.errno != errno.ECONNREFUSED:
                raise
            c.close()
            c = l.socket("client")
            time.sleep(0.02)
    l._probe = c
    return host, port


@pytest.mark.parametrize("ip_version", [4, 6])
def test_users_server_crash_and_reboot_answers_with_no_connection(lab, ip_version: int) -> None:
    with lab.Lab("my_server_reboot", ip_version) as l:
        start_server(l)
        c = l._probe
        c.send(b"ping")
        assert c.recv(64, timeout=2) == b"ping"
        l.reboot("server")
        c.send(b"are you there")
        assert l.wait_rst(3)
        with pytest.raises(OSError) as e:
            c.recv(64, timeout=3)
        assert e.value.errno == errno.ECONNRESET
        # Said once, as Python's own sockets say it: not "... (os error 104)" after it.
        assert str(e.value) == f"[Errno {errno.ECONNRESET}] {os.strerror(errno.ECONNRESET)}"
        run = l.finish()
    rsts = after_startup(run)
    assert [r["host"] for r in rsts] == ["server"]
    assert rsts[0]["kernel_reason"] == "NO_SOCKET"
    assert rsts[0]["cause"] == rstlab.Cause.NO_CONNECTION
    assert rsts[0]["flags"] == "R"  # the trigger carried ACK: <SEQ=SEG.ACK><CTL=RST>
    assert_reset(run, cause="no_connection", sender="server")


@pytest.mark.parametrize("ip_version", [4, 6])
def test_client_abort_against_users_server(lab, ip_version: int) -> None:
    with lab.Lab("my_server_abort", ip_version) as l:
        start_server(l)
        c = l._probe
        c.send(b"x" * 100)
        assert c.recv(200, timeout=2)
        c.linger(0)
        c.close()
        assert l.wait_rst(2)
        run = l.finish()
    (r,) = after_startup(run)
    assert (r["host"], r["flags"], r["cause"]) == ("client", "R.", "abort")
    assert r["kernel_reason"] == "TCP_STATE"


def test_silent_network_ends_without_a_reset(lab) -> None:
    with lab.Lab("my_server_silence", 4) as l:
        start_server(l)
        c = l._probe
        c.user_timeout_ms(300)
        l.drop_input("server")
        c.send(b"lost")
        with pytest.raises(OSError) as e:
            c.recv(64, timeout=5)
        assert e.value.errno == errno.ETIMEDOUT
        run = l.finish()
    assert after_startup(run) == []


def test_unknown_role_names_the_valid_ones(lab) -> None:
    with lab.Lab("my_typo", 4) as l:
        with pytest.raises(rstlab.errors.ScenarioError, match="`cleint` is not a role") as e:
            l.socket("cleint")
        assert isinstance(e.value, ValueError)
        assert "client, server, router, forger" in str(e.value)
        # A valid role that this topology has no host for is a different error.
        with pytest.raises(rstlab.errors.LabError, match="no host `router`"):
            l.addr("router")
    with pytest.raises(rstlab.errors.ScenarioError, match="`serve` is not a role"):
        lab.Lab("my_typo", 4, sysctls=[("serve", "net.ipv4.tcp_fin_timeout", "5")])


def test_scenarios_declare_what_they_expect() -> None:
    causes = {c for c, *_ in rstlab._rstlab.causes()}
    for s in rstlab.lab.scenarios():
        assert set(s["expect_causes"]) <= causes, s["name"]
        assert all(k.isupper() for k in s["expect_kernel_reasons"]), s["name"]
    by_name = {s["name"]: s for s in rstlab.lab.scenarios()}
    # RFC 9293 §3.10.7.1: a SYN to a port with no socket is answered by the stack (NO_SOCKET).
    assert by_name["s1_closed_port"]["expect_causes"] == ["refused"]
    assert by_name["s1_closed_port"]["expect_kernel_reasons"] == ["NO_SOCKET"]
