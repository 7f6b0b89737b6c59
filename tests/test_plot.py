"""Plots and HTML reprs. Expected values come from the captures' MANIFEST annotations and from
tcpdump's printing rules (print-tcp.c), not from running the plots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rstlab
from rstlab.plot import RST_COLOR, ladder, tcpdump_label, time_sequence

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
    events = [{"host": "server", "call": "accept", "result": 4, "ts": ts[4] + 1e-4},
              {"host": "client", "call": "recv", "errno": "ECONNRESET", "ts": ts[6] + 1e-4}]
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
