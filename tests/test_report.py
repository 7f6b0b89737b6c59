"""The HTML report: content, self-containment, the CLI, and a real render in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import rstlab
from rstlab.cli import main
from rstlab.report import render_report, write_report
from rstlab.table import time_ns

INJECT = "zeek/tcp/rst-inject-rae.pcap"  # MANIFEST: 3 RSTs in one stream, the first forged
SYNSCAN = "chrissanders-packets/synscan.pcapng"  # MANIFEST: 5 RSTs, each in its own stream


@dataclass
class FakeRun:
    """What the report reads from a lab run, shaped like rstlab.lab.Run (not in this branch)."""

    scenario: str
    claim: str
    holds: bool | None
    evidence: list[str] = field(default_factory=list)
    trace: Any = None
    app_events: list[dict] | None = None


def external_refs(page: str) -> list[str]:
    """src / href values that would fetch something from outside the page."""
    refs = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)['"]""", page)
    return [r for r in refs if not (r.startswith("#") or r.startswith("data:"))]


def rst_streams(traces: Path, name: str) -> int:
    """Streams with RSTs per Wireshark (REFERENCE_tshark_rst.tsv, column tcp_stream)."""
    rows = [ln.split("\t") for ln in (traces / "REFERENCE_tshark_rst.tsv").read_text().splitlines()
            if ln.startswith(name + "\t")]
    return len({r[14] for r in rows})


def test_report_contents(traces: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = write_report(tmp_path / "r.html", traces=[traces / INJECT, rstlab.read(traces / SYNSCAN)])
    page = Path(out).read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # One PNG ladder per stream with RSTs; one inline SVG bar chart of causes per capture.
    n_ladders = rst_streams(traces, INJECT) + rst_streams(traces, SYNSCAN)
    assert n_ladders == 6
    assert len(re.findall(r"<img [^>]*src='data:image/png;base64,", page)) == n_ladders
    assert page.count("<svg") == 2
    assert external_refs(page) == []
    assert "injected" in page and "refused" in page
    assert "Verdicts" not in page  # no runs, no verdict table


def test_report_caps_ladders(traces: Path) -> None:
    pytest.importorskip("matplotlib")
    page = render_report([traces / SYNSCAN], max_ladders=2)
    assert page.count("<img ") == 2
    assert f"… {rst_streams(traces, SYNSCAN) - 2} more connections with RSTs not drawn" in page


def test_report_caps_ladders_in_total(traces: Path) -> None:
    pytest.importorskip("matplotlib")
    page = render_report([traces / INJECT, traces / SYNSCAN], max_total_ladders=3)
    # INJECT's one stream with RSTs takes one, SYNSCAN gets the remaining two.
    assert page.count("<img ") == 3
    assert f"… {rst_streams(traces, SYNSCAN) - 2} more connections with RSTs not drawn" in page


def test_report_without_matplotlib_uses_text_ladders(traces: Path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_mpl(name, *a, **k):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib here")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    page = render_report([traces / INJECT])
    assert "<img " not in page and page.count("<pre>") == 1 and "RST: injected" in page


def test_report_verdicts(traces: Path) -> None:
    t = rstlab.read(traces / INJECT)
    runs = [FakeRun("s1_closed_port", "Connecting to a port nobody listens on gets a RST.", True,
                    ["client errno ECONNREFUSED", "RST cause refused"], t),
            FakeRun("s7_fin_wait2", "FIN_WAIT2 timer expires → RST.", False,
                    ["no RST: the FIN_WAIT2 socket is silently dropped"]),
            {"scenario": "s99", "claim": "x", "verdict": "holds"}]
    page = render_report(runs=runs)
    table = page[page.index("<table class='verdicts'>"):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td class='(\w+)'>(.*?)</td>", table)
    assert [(r[2], r[3]) for r in rows] == [("holds", "holds"), ("differs", "differs"),
                                            ("holds", "holds")]
    assert "<a href='#cap0'>s1_closed_port</a>" in rows[0][0]
    assert "FIN_WAIT2 timer expires → RST." in page
    assert "client errno ECONNREFUSED<br>RST cause refused" in page
    assert "id='cap0'" in page  # the run's capture has its own section


class LabLikeRun:
    """The attributes rstlab.lab.Run has: a claim id, its statement in ``info``, a verdict
    string, evidence text, the trace and the applications' events."""

    scenario = "refused_closed_port"
    ip_version = 4
    claim = "S1"
    info = {"statement": "Connecting to a port nobody listens on gets a RST."}
    verdict = "holds"
    evidence = "client connect() failed with ECONNREFUSED after the RST"

    def __init__(self, trace) -> None:
        self.trace = trace
        ts = trace.segments["ts"]
        self.app_events = [{"host": "client", "call": "connect", "result": "-1",
                            "errno": "ECONNREFUSED", "ts": time_ns(ts[-1]) / 1e9 + 1e-4}]


def test_report_lab_run_shape(traces: Path) -> None:
    t = rstlab.read(traces / "chrissanders-packets/tcp_refuseconnection.pcapng")
    page = render_report(runs=[LabLikeRun(t)])
    assert "S1: Connecting to a port nobody listens on gets a RST." in page
    assert "<td class='holds'>holds</td>" in page
    assert "<a href='#cap0'>refused_closed_port (IPv4)</a>" in page
    assert "<h2 id='cap0'>refused_closed_port (IPv4)</h2>" in page


def test_cli_report(traces: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli.html"
    assert main(["report", str(traces / INJECT), "-o", str(out), "--max-ladders", "1"]) == 0
    assert out.read_text().count("rst-inject-rae.pcap") >= 2
    assert "wrote" in capsys.readouterr().err


def test_cli_report_missing_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli.html"
    assert main(["report", str(tmp_path / "nope.pcap"), "-o", str(out)]) == 2  # unreadable input (rstlab --help: exit status)
    assert "nope.pcap" in capsys.readouterr().err
    assert out.exists()


# -- a real render --------------------------------------------------------------------------

def chromium() -> str:
    """A headless Chromium, installed with apt when missing and running as root."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium not installed (apt-get install chromium) and not root to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            pytest.skip(f"could not install chromium: {' '.join(cmd)}: {r.stderr.strip()[-300:]}")
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("apt-get installed chromium but no chromium executable is on PATH")
    return exe


@pytest.mark.slow
def test_report_renders_in_chromium(traces: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    Image = pytest.importorskip("PIL.Image")
    exe = chromium()
    html_path = Path(write_report(tmp_path / "r.html", traces=[traces / INJECT],
                                  runs=[FakeRun("s11_linger0", "SO_LINGER 0 then close() sends RST",
                                                True, ["RST cause abort"])]))
    shot = tmp_path / "shot.png"
    width, height = 1280, 2400
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--screenshot={shot}", f"--window-size={width},{height}", html_path.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    img = Image.open(shot).convert("RGB")
    assert img.size == (width, height)
    small = img.resize((width // 4, height // 4))
    colors = small.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50, "screenshot looks blank"
    # RSTs are drawn in red (#d62728) in the ladder; the verdict "holds" in green.
    red = sum(n for n, (r_, g, b) in colors if r_ > 180 and g < 90 and b < 90)
    assert red > 20, "no red RST arrows visible"
    page = html_path.read_text()
    assert page.count("<img ") == 1 and page.count("<svg") == 1
