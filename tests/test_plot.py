"""Plots and HTML reprs. Expected values come from the captures' MANIFEST annotations and from
tcpdump's printing rules (print-tcp.c), not from running the plots."""

from __future__ import annotations

import csv
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import rstlab
from capwriter import ACK, PSH, RST, SYN, Rec, ethernet, ipv4, pcap, tcp
from rstlab.table import time_ns
from rstlab.plot import RETRANS_COLOR, RST_COLOR, ladder, tcpdump_label, time_sequence

mpl = pytest.importorskip("matplotlib")
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def seg(flags: str, seq: int = 0, ack: int = 0, length: int = 0, win: int = 512) -> dict:
    return {"flags": flags, "seq_rel": seq, "ack_rel": ack, "len": length, "window": win}


# tcpdump prints seq only for data, SYN, FIN or RST (as start:end with data), ack only with ACK.
@pytest.mark.parametrize("s, text", [
    (seg("S", 0, 0, 0, 8192), "[S] seq 0, win 8192, length 0"),
    (seg("S.", 0, 1, 0, 65535), "[S.] seq 0, ack 1, win 65535, length 0"),
    (seg(".", 1, 1), "[.] ack 1, win 512, length 0"),
    (seg("P.", 1, 1, 466), "[P.] seq 1:467, ack 1, win 512, length 466"),
    (seg("F.", 98930, 1677), "[F.] seq 98930, ack 1677, win 512, length 0"),
    (seg("R", 155, 0, 0, 0), "[R] seq 155, win 0, length 0"),
    (seg("R.", 1677, 98931, 0, 0), "[R.] seq 1677, ack 98931, win 0, length 0"),
])
def test_tcpdump_label(s: dict, text: str) -> None:
    assert tcpdump_label(s) == text


def arrows(ax) -> list[Annotation]:
    return [c for c in ax.get_children() if isinstance(c, Annotation) and c.arrow_patch is not None]


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def new_ax(height: float = 6.0):
    return Figure(figsize=(11, height)).add_subplot()


def test_ladder_rst_inject(traces: Path) -> None:
    # MANIFEST: 9 TCP packets, 3 RSTs; frame 2 is a forged RST from the server's address, before
    # the real SYN-ACK; the client's SYN is frame 1.
    t = rstlab.read(traces / "zeek/tcp/rst-inject-rae.pcap")
    conn = t.connection(0)
    ax = ladder(conn, new_ax())
    arr = arrows(ax)
    assert len(arr) == 9
    red = [a for a in arr if to_hex(a.arrow_patch.get_edgecolor()) == RST_COLOR]
    assert len(red) == 3
    # Arrows run top to bottom in frame order; the first goes client (x=0) → server (x=1), the
    # forged RST server → client.
    ys = [a.xy[1] for a in arr]
    assert ys == sorted(ys)
    assert (arr[0].xyann[0], arr[0].xy[0]) == (0.0, 1.0)
    assert (arr[1].xyann[0], arr[1].xy[0]) == (1.0, 0.0)
    assert any(tx.startswith("RST: injected") for tx in texts(ax))
    assert "[S] seq 0, win 16384, length 0" in texts(ax)
    assert any("1.2.0.2:2527" in tx for tx in texts(ax))
    assert any("1.2.0.3:6649" in tx for tx in texts(ax))


def test_ladder_app_events(traces: Path) -> None:
    t = rstlab.read(traces / "zeek/tcp/rst-inject-rae.pcap")
    conn = t.connection(0)
    ts = conn.segments["ts"]
    # A lab's application events carry epoch seconds (rows.AppEvent); the segments, times.
    events = [{"host": "server", "call": "accept", "result": 4, "ts": time_ns(ts[4]) / 1e9 + 1e-4},
              {"host": "client", "call": "recv", "errno": "ECONNRESET", "ts": time_ns(ts[6]) / 1e9 + 1e-4}]
    ax = ladder(conn, new_ax(), events=events)
    tx = texts(ax)
    assert "accept() → 4" in tx and "recv() → ECONNRESET" in tx
    # The client's event sits on the client's line (x=0), after frame 7 and before frame 8.
    recv = next(t for t in ax.texts if t.get_text() == "recv() → ECONNRESET")
    ys = {a.xy[1] for a in arrows(ax)}
    assert recv.get_position()[0] > 0 and recv.get_position()[0] < 0.5
    assert sorted(ys)[6] < recv.get_position()[1] < sorted(ys)[7]
    assert len(arrows(ax)) == 9


def test_ladder_elides_long_connections_but_keeps_rsts(traces: Path) -> None:
    # MANIFEST: m57-long-49583-80.pcap has 227 TCP packets, 2 of them RSTs, one stream.
    t = rstlab.read(traces / "zeek/http/m57-long-49583-80.pcap")
    conn = t.connection(0)
    ax = ladder(conn, new_ax(10), max_segments=20)
    arr = arrows(ax)
    assert len(arr) == 20
    assert sum(to_hex(a.arrow_patch.get_edgecolor()) == RST_COLOR for a in arr) == 2
    assert any(tx == "… 207 rows not shown …" for tx in texts(ax))
    text = conn.ladder(max_segments=20)
    assert "… 207 segments not shown …" in text
    assert text.count("RST:") == 2


def test_time_sequence_marks_rsts(traces: Path) -> None:
    t = rstlab.read(traces / "zeek/http/m57-long-49583-80.pcap")
    conn = t.connection(0)
    ax = time_sequence(conn, new_ax())
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "X"]
    assert len(marks) == 2 and all(to_hex(m.get_color()) == RST_COLOR for m in marks)
    # The data bars of the server reach the end of its data and FIN (SYN and FIN count one).
    resp = [s for s in conn.segments if s["dir"] == "resp" and "R" not in s["flags"]]
    top = max(s["seq_rel"] + s["len"] + ("S" in s["flags"]) + ("F" in s["flags"]) for s in resp)
    bars = ax.collections
    assert max(max(seg[:, 1].max() for seg in c.get_segments()) for c in bars) == top
    assert ax.get_xlabel().startswith("time")


def test_pyplot_default_axes(traces: Path) -> None:
    conn = rstlab.read(traces / "chrissanders-packets/tcp_refuseconnection.pcapng").connection(0)
    ax = ladder(conn)
    assert ax.figure.get_size_inches()[1] > 1
    assert time_sequence(conn).figure is not ax.figure


def test_headless_and_lazy(traces: Path, tmp_path: Path) -> None:
    code = (
        "import sys, rstlab\n"
        f"t = rstlab.read({str(traces / 'zeek/tcp/rst-inject-rae.pcap')!r})\n"
        "c = t.connection(0); repr(t); c.ladder(); t.resets.to_pylist()\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
        "from rstlab import plot\n"
        f"plot.ladder(c).figure.savefig({str(tmp_path / 'l.png')!r})\n"
        "html = c._repr_html_(); assert '<svg' in html\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "l.png").stat().st_size > 10_000


def test_connection_repr_html(traces: Path) -> None:
    t = rstlab.read(traces / "zeek/tcp/rst-inject-rae.pcap")
    c = t.connection(0)
    h = c._repr_html_()
    assert h.count("<svg") == 1 and "<?xml" not in h
    assert f"{c.row['conn_state']} / {c.row['history']}" in h
    assert "injected" in h and "no_connection" in h
    assert repr(t.connection(0)).startswith("<rstlab.Connection 0:")


def test_trace_repr_html(traces: Path) -> None:
    # REFERENCE_tshark_rst.tsv: synscan.pcapng's 5 RSTs are all RST+ACKs from the scanned host's
    # ports to the scanner's SYNs: closed ports, `refused` (DESIGN §3).
    ref = [ln.split("\t") for ln in (traces / "REFERENCE_tshark_rst.tsv").read_text().splitlines()
           if ln.startswith("chrissanders-packets/synscan.pcapng\t")]
    assert len(ref) == 5 and all(r[7].endswith("A.R..") and r[3] == "64.13.134.52" for r in ref)
    t = rstlab.read(traces / "chrissanders-packets/synscan.pcapng")
    h = t._repr_html_()
    assert "refused 5" in h
    assert "<b>resets</b>: 5" in h and "evidence" not in h
    assert repr(t).startswith("<rstlab.Trace 'synscan.pcapng'")
    assert t.cause_counts() == {"refused": 5}


# --- tcptrace style: receive window, SACK, zero window, retransmissions -------------------------

FIX = Path(__file__).resolve().parent / "fixtures" / "lab"
C, S, CP, SP, C_ISN, S_ISN = "10.9.0.1", "10.9.0.2", 40000, 80, 1000, 5000
MSS, SACK_PERM, NOP = bytes([2, 4, 5, 0xB4]), bytes([4, 2]), bytes([1])


def wscale_opt(shift: int) -> bytes:
    return bytes([1, 3, 3, shift])  # NOP, then kind 3 length 3 (RFC 7323 §2.2)


def sack_opt(*blocks: tuple[int, int]) -> bytes:
    body = b"".join(struct.pack("!II", left, right) for left, right in blocks)
    return NOP + NOP + bytes([5, 2 + len(body)]) + body  # RFC 2018 §3


# One server-to-client transfer with a lost segment (RFC 2018 §3 SACK, RFC 7323 window scale):
# (time, from client, seq, ack, flags, payload length, window field, options).
CONV = [
    (0.000, True, C_ISN, 0, SYN, 0, 64240, MSS + SACK_PERM + wscale_opt(7)),
    (0.001, False, S_ISN, C_ISN + 1, SYN | ACK, 0, 65160, MSS + SACK_PERM + wscale_opt(2)),
    (0.002, True, C_ISN + 1, S_ISN + 1, ACK, 0, 502, b""),
    (0.003, True, C_ISN + 1, S_ISN + 1, PSH | ACK, 100, 502, b""),   # the request
    (0.010, False, S_ISN + 1, C_ISN + 101, ACK, 1000, 509, b""),
    (0.011, False, S_ISN + 1001, C_ISN + 101, ACK, 1000, 509, b""),  # lost
    (0.012, False, S_ISN + 2001, C_ISN + 101, ACK, 1000, 509, b""),
    (0.013, True, C_ISN + 101, S_ISN + 1001, ACK, 0, 500, b""),
    (0.014, True, C_ISN + 101, S_ISN + 1001, ACK, 0, 490, sack_opt((S_ISN + 2001, S_ISN + 3001))),
    (0.050, False, S_ISN + 1001, C_ISN + 101, PSH | ACK, 1000, 509, b""),  # the retransmission
    (0.051, True, C_ISN + 101, S_ISN + 3001, ACK, 0, 0, b""),          # zero window
    (0.400, True, C_ISN + 101, S_ISN + 3001, ACK, 0, 300, b""),
    (0.500, True, C_ISN + 101, S_ISN + 3001, RST | ACK, 0, 0, b""),
]


@pytest.fixture(scope="module")
def sack_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    recs = []
    for ts, from_client, seq, ack, flags, n, win, opts in CONV:
        src, dst, sp, dp = (C, S, CP, SP) if from_client else (S, C, SP, CP)
        seg = tcp(sp, dp, seq, ack, flags, b"x" * n, window=win, options=opts, src=src, dst=dst)
        recs.append(Rec(1_700_000_000, int(ts * 1e6), ethernet(0x0800, ipv4(src, dst, 6, seg))))
    path = tmp_path_factory.mktemp("tcptrace") / "sack.pcap"
    path.write_bytes(pcap(1, recs))
    return path


def lines(ax, suffix: str) -> list:
    return [ln for ln in ax.get_lines() if ln.get_label().endswith(suffix)]


def bar_sets(ax, suffix: str) -> list:
    return [c for c in ax.collections if c.get_label().endswith(suffix)]


def test_segment_columns_carry_wscale_sack_and_retransmission(sack_capture: Path) -> None:
    segs = list(rstlab.read(sack_capture).connection(0).segments)
    assert [s["wscale"] for s in segs] == [7, 2] + [None] * 11
    # SACK edges relative to the server's ISN, like ack_rel (Wireshark's tcp.options.sack_le).
    assert [s["sack"] for s in segs] == [""] * 8 + ["2001-3001"] + [""] * 4
    assert [s["frame"] for s in segs if s["retransmission"]] == [10]


def test_tcptrace_receive_window_sack_zero_window_retransmission(sack_capture: Path) -> None:
    conn = rstlab.read(sack_capture).connection(0)
    ax = time_sequence(conn, new_ax(), style="tcptrace")
    t0 = CONV[0][0]
    # The client (orig) receives the server's data: its window line is its ACK plus its window
    # scaled by 2^7 (both SYNs carried the option; a SYN's own window is never scaled, RFC 7323
    # §2.2), computed here from the packets written above; its RST draws no window.
    want = [(ts - t0, ack - S_ISN + (win << 7)) for ts, c, _, ack, fl, _, win, _ in CONV
            if c and fl & ACK and not fl & RST]
    (win_line,) = [ln for ln in lines(ax, "receive window") if f"{S}:{SP} →" in ln.get_label()]
    assert list(win_line.get_ydata()) == [y for _, y in want]
    assert list(win_line.get_xdata()) == pytest.approx([x for x, _ in want], abs=2e-6)
    # The server's window line starts with its SYN-ACK's unscaled window.
    (srv_line,) = [ln for ln in lines(ax, "receive window") if f"{C}:{CP} →" in ln.get_label()]
    assert srv_line.get_ydata()[0] == 1 + 65160
    assert list(srv_line.get_ydata()[1:]) == [101 + (509 << 2)] * 4
    # The SACK block the client reported: server bytes 2001..3001 at the client's dup ACK.
    (sack,) = bar_sets(ax, "SACKed")
    ((x0, y0), (x1, y1)), = [tuple(map(tuple, s)) for s in sack.get_segments()]
    assert (y0, y1) == (2001, 3001) and x0 == x1 == pytest.approx(0.014, abs=2e-6)
    # The zero window: on the client's ACK line at relative ack 3001.
    (zw,) = lines(ax, "zero window")
    assert list(zw.get_ydata()) == [3001] and zw.get_xdata()[0] == pytest.approx(0.051, abs=2e-6)
    # The retransmitted segment: its own bars, orange, 1001..2001 at 0.050, marked "R".
    (again,) = bar_sets(ax, "retransmission")
    ((x0, y0), (x1, y1)), = [tuple(map(tuple, s)) for s in again.get_segments()]
    assert (y0, y1) == (1001, 2001) and x0 == x1 == pytest.approx(0.050, abs=2e-6)
    assert to_hex(again.get_color()[0]) == RETRANS_COLOR
    assert texts(ax).count("R") == 1
    # The Stevens style (the default) draws none of it, and an unknown style says what is known.
    plain = time_sequence(conn, new_ax())
    assert not lines(plain, "receive window") and not bar_sets(plain, "retransmission")
    with pytest.raises(ValueError, match="tcptrace"):
        time_sequence(conn, new_ax(), style="gnuplot")


def tshark_fields(tshark: str, path: Path, filt: str, *fields: str) -> list[list[str]]:
    cmd = [tshark, "-r", str(path), "-Y", filt, "-T", "fields", "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [ln.split("\t") for ln in out.splitlines()]


def test_tcptrace_on_a_lab_capture_agrees_with_tshark(tshark: str) -> None:
    # s11_linger_zero: the client fills the server's small window (WS 1024 and 1), the server
    # answers with a zero window and a SACK block, the client resets.
    path = FIX / "s11_linger_zero-v4.pcapng"
    conn = rstlab.read(path).connection(0)
    ax = time_sequence(conn, new_ax(), style="tcptrace")
    t0 = time_ns(conn.segments["ts"][0]) / 1e9
    srv = conn.row["resp_addr"]
    # tshark's calculated window (tcp.window_size, scaled from the handshake) plus its relative
    # ACK, for every segment the server sent with ACK (the server is the client's receiver).
    ref = tshark_fields(tshark, path, f"ip.src=={srv} && tcp.flags.ack==1 && tcp.flags.reset==0",
                        "frame.time_epoch", "tcp.ack", "tcp.window_size")
    want = [(float(ts) - t0, int(ack) + int(win)) for ts, ack, win in ref]
    (line,) = [ln for ln in lines(ax, "receive window") if ln.get_label().startswith(f"{conn.row['orig_addr']}:")]
    assert list(line.get_ydata()) == [y for _, y in want]
    assert list(line.get_xdata()) == pytest.approx([x for x, _ in want], abs=2e-6)
    sle_sre = tshark_fields(tshark, path, "tcp.options.sack_le", "tcp.options.sack_le", "tcp.options.sack_re")
    (sack,) = bar_sets(ax, "SACKed")
    assert [(s[0][1], s[1][1]) for s in sack.get_segments()] == [(int(a), int(b)) for a, b in sle_sre]
    zero = tshark_fields(tshark, path, "tcp.analysis.zero_window", "tcp.ack")
    (zw,) = lines(ax, "zero window")
    assert list(zw.get_ydata()) == [int(a) for (a,) in zero]


def test_retransmissions_agree_with_tshark_over_the_lab_fixtures(tshark: str) -> None:
    # tshark's three retransmission marks, minus those on segments that follow a RST forged in
    # their sender's name (kernel.tsv: no TCP stack sent it): tshark counts that RST's sequence
    # number as sent, though a RST occupies no sequence space (RFC 9293 §3.4).
    with open(FIX / "kernel.tsv", newline="") as fh:
        forged = {(r["file"], int(r["frame"])) for r in csv.DictReader(fh, delimiter="\t")
                  if r["stack_sent"] == "no"}
    checked = 0
    for path in sorted(FIX.glob("*.pcapng")):
        rows = tshark_fields(tshark, path, "tcp", "frame.number", "ip.src", "ipv6.src", "tcp.srcport",
                             "tcp.flags.reset", "tcp.analysis.retransmission",
                             "tcp.analysis.fast_retransmission", "tcp.analysis.spurious_retransmission")
        want, reset = [], set()
        for frame, src4, src6, port, rst, *marks in rows:
            sender = (src4 or src6, port)
            if any(marks) and sender not in reset:
                want.append(int(frame))
            if (path.name, int(frame)) in forged:
                reset.add(sender)
        got = [int(s["frame"]) for s in rstlab.read(path).segments if s["retransmission"]]
        assert got == want, path.name
        checked += len(want)
    assert checked >= 10


def test_ladder_marks_retransmissions() -> None:
    # s5_retransmission_timeout: the client's data (frame 4) is sent again in frames 8, 9, 10
    # (tshark: "TCP Retransmission"), to a peer that no longer answers.
    conn = rstlab.read(FIX / "s5_retransmission_timeout-v4.pcapng").connection(0)
    ax = ladder(conn, new_ax(8))
    orange = [a for a in arrows(ax) if to_hex(a.arrow_patch.get_edgecolor()) == RETRANS_COLOR]
    assert len(orange) == 3 and all(a.arrow_patch.get_linestyle() == "--" for a in orange)
    marks = [t for t in ax.texts if t.get_text() == "retransmission"]
    frames = {t.get_position()[1]: t.get_text() for t in ax.texts if t.get_text() in ("8", "9", "10")}
    assert sorted(frames.values()) == ["10", "8", "9"]
    assert sorted(m.get_position()[1] for m in marks) == sorted(frames)
    text = conn.ladder().splitlines()
    assert [ln.split()[0] for ln in text if "retransmission" in ln] == ["8", "9", "10"]
