"""Progress reaches the end of the file (through tqdm when it is installed, a plain bar on a
terminal otherwise), and what the Rust core notices reaches Python's ``logging`` under
``rstlab.*`` loggers (issue #17).

Expected values come from the files themselves, built or measured here: their size
(``os.path.getsize``), the byte offset of the block a cut falls in (walked with ``struct`` from the
pcapng spec's block layout), the link type written into an interface description, tqdm's own
size formatting, and the kernel's missing oracle for an ordinary user (a user-namespace run).
"""

from __future__ import annotations

import logging
import os
import pty
import select
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import rstlab

from capwriter import Rec, ethernet, ipv4, ng_block, ng_epb, ng_idb, ng_shb, pcap, tcp

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "tests" / "fixtures" / "lab"
ETHERNET, USER0 = 1, 147  # https://www.tcpdump.org/linktypes.html
SYN, ACK = 0x02, 0x10


def _segment(i: int) -> bytes:
    return ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(40000, 80, 1000 + i * 1400, 1, ACK, bytes(1400))))


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classic pcap of about 21 MB: several of the reader's ~8 MiB progress steps."""
    p = tmp_path_factory.mktemp("big") / "big.pcap"
    frame = _segment(0)
    p.write_bytes(pcap(ETHERNET, [Rec(1 + i // 1000, i % 1000, frame) for i in range(15_000)]))
    return p


# ---- progress ---------------------------------------------------------------------------------

def test_progress_ends_at_the_files_last_byte(big_capture: Path) -> None:
    calls: list[tuple[int, int]] = []
    rstlab.read(big_capture, progress=lambda done, total: calls.append((done, total)))
    size = os.path.getsize(big_capture)
    assert len(calls) >= 3 and all(total == size for _, total in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1] == (size, size)  # the bar stopped at 97.2 % without this last report


def test_progress_of_a_damaged_file_stops_where_reading_did(tmp_path: Path) -> None:
    data = (LAB / "accept_overflow-v4.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[:-37])
    calls: list[tuple[int, int]] = []
    rstlab.read(cut, errors="keep", progress=lambda done, total: calls.append((done, total)))
    assert all(done < total for done, total in calls)


def test_progress_goes_through_tqdm_when_installed(capsys: pytest.CaptureFixture[str]) -> None:
    tqdm = pytest.importorskip("tqdm")
    f = LAB / "accept_overflow-v4.pcapng"
    rstlab.read(f, progress=True)
    err = capsys.readouterr().err
    # stderr is not a terminal here, so rstlab's own bar would draw nothing: this is tqdm's.
    size = tqdm.tqdm.format_sizeof(os.path.getsize(f), divisor=1024)
    assert f"{f.name}: 100%|" in err and f"{size}/{size}" in err


def test_plain_bar_on_a_terminal_reaches_100_percent_without_tqdm(big_capture: Path) -> None:
    # tqdm made unimportable in the child: the fallback bar, drawn on a real pseudo-terminal.
    code = ("import sys; sys.modules['tqdm'] = None; sys.modules['tqdm.auto'] = None; import rstlab; "
            f"rstlab.read({str(big_capture)!r}, progress=True)")
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=slave)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(60) == 0
    frames = out.decode().replace("\r\n", "\n").split("\r")
    assert frames[-1].strip() == f"big.pcap [{'#' * 30}] 100.0%"


# ---- logging ----------------------------------------------------------------------------------

def _last_block_start(data: bytes, upto: int) -> int:
    """The offset of the pcapng block that byte `upto` falls in (block total length at +4)."""
    off = 0
    while True:
        (length,) = struct.unpack_from("<I", data, off + 4)
        if off + length > upto:
            return off
        off += length


def test_a_damaged_record_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = (LAB / "accept_overflow-v4.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[:-37])
    with caplog.at_level(logging.WARNING, logger="rstlab"):
        t = rstlab.read(cut, errors="keep")
    records = [r for r in caplog.records if r.name == "rstlab.trace"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    msg = records[0].getMessage()
    assert str(cut) in msg and f"at byte offset {_last_block_start(data, len(data) - 37)}" in msg
    assert t.error is not None  # the log adds to the error, it does not replace it


def test_an_unsupported_link_type_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Two interfaces: Ethernet (read) and USER0 (not decodable): the file reads, the log says
    # what was skipped.
    syn = ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(40000, 80, 1000, 0, SYN)))
    body = ng_shb() + ng_idb(ETHERNET) + ng_idb(USER0)
    body += ng_epb(0, 1_000_000, syn) + ng_epb(1, 1_000_001, b"\x01\x02\x03") + ng_epb(1, 1_000_002, b"\x04")
    f = tmp_path / "two-links.pcapng"
    f.write_bytes(body)
    with caplog.at_level(logging.WARNING, logger="rstlab"):
        t = rstlab.read(f)
    assert len(t.connections) == 1
    [rec] = [r for r in caplog.records if r.name == "rstlab.trace"]
    assert rec.levelno == logging.WARNING
    assert f"{f}: 2 frames on unsupported link type {USER0} skipped" in rec.getMessage()


def test_nothing_is_logged_for_a_sound_capture(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="rstlab"):
        rstlab.read(LAB / "accept_overflow-v4.pcapng")
    assert [r for r in caplog.records if r.name.startswith("rstlab")] == []


def test_library_adds_only_a_null_handler() -> None:
    # Unconfigured applications see nothing (no "No handlers" fallback to stderr).
    assert [type(h) for h in logging.getLogger("rstlab").handlers] == [logging.NullHandler]


@pytest.mark.rstlab_userns
def test_a_run_without_the_kernel_oracle_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    # oracle=False is the caller's choice: debug. A run the oracle could not watch: a warning.
    with caplog.at_level(logging.DEBUG, logger="rstlab"):
        run = rstlab.lab.run("s1_closed_port", oracle=False)
    lab_records = [r for r in caplog.records if r.name == "rstlab.lab"]
    assert [(r.levelno, run.oracle_available) for r in lab_records] == [(logging.DEBUG, False)]
    assert "s1_closed_port IPv4: kernel oracle unavailable (oracle turned off" in lab_records[0].getMessage()


NOBODY_RUN = """
import logging, rstlab
from rstlab import lab
logging.basicConfig(format="%(name)s %(levelname)s %(message)s")
if lab.mode() is None:
    print("SKIP", lab.privileges())
else:
    r = lab.run("s1_closed_port")
    print(r.oracle_available, r.oracle_note, sep="\\n")
"""


def test_a_run_the_oracle_could_not_watch_is_logged_as_a_warning(as_nobody) -> None:
    # An ordinary user's run happens in a user namespace, where tracefs is closed to it: the
    # kernel oracle is unavailable, and the parent process logs it once (the child logs nothing).
    out = as_nobody(NOBODY_RUN)
    assert out.returncode == 0, out.stderr
    if out.stdout.startswith("SKIP"):
        pytest.skip(f"uid 65534 may not create user namespaces here: {out.stdout[5:].strip()}")
    available, note = out.stdout.splitlines()
    assert available == "False" and note
    assert out.stderr.splitlines() == [
        f"rstlab.lab WARNING s1_closed_port IPv4: kernel oracle unavailable ({note}): the run's kernel_reason "
        "and stack_sent are null"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jupyter_client's own path migration
def test_progress_shows_in_a_notebook() -> None:
    # The defect: the plain bar draws only on a terminal, so a notebook showed nothing. Through
    # tqdm.auto a notebook shows a widget (ipywidgets) or tqdm's text bar in the cell's output.
    pytest.importorskip("tqdm")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    f = LAB / "accept_overflow-v4.pcapng"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import rstlab\nt = rstlab.read({str(f)!r}, progress=True)")])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    shown = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    shown += "".join(o.get("data", {}).get("text/plain", "") for o in outputs if o.output_type == "display_data")
    assert f"{f.name}: 100%" in shown
