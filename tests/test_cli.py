"""The command line composes (issue #17): CSV with one header and a ``capture`` column, JSON Lines,
a quiet end when the reader closes the pipe, ``--version``, and the exit statuses 0 / 1 / 2 that
``rstlab --help`` documents — each from a real case, running the real CLI in a subprocess.

Expected values come from outside the code under test: tshark counting each capture's RSTs and
TCP streams, the package metadata, the shell's ``PIPESTATUS``, pytest's own exit status.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import rstlab.jsonout as jsonout

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "tests" / "fixtures" / "lab"
FILES = [LAB / "s1_closed_port-v4.pcapng", LAB / "s11_linger_zero-v6.pcapng", LAB / "accept_overflow-v4.pcapng"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rstlab", *args], capture_output=True, text=True, timeout=600)


def _tshark(tshark: str, path: Path, display_filter: str, field: str) -> list[str]:
    # The lab's pcapng carries the first capture on interface 0 (a second one may repeat it).
    out = subprocess.run([tshark, "-r", str(path), "-Y", f"({display_filter}) && frame.interface_id == 0",
                          "-T", "fields", "-e", field], capture_output=True, text=True, check=True).stdout
    return out.split()


def tshark_rsts(tshark: str, path: Path) -> int:
    return len(_tshark(tshark, path, "tcp.flags.reset == 1", "frame.number"))


def tshark_streams(tshark: str, path: Path) -> int:
    return len(set(_tshark(tshark, path, "tcp", "tcp.stream")))


# ---- formats ----------------------------------------------------------------------------------

def test_csv_has_one_header_and_a_capture_column(tshark: str) -> None:
    for table, count in (("connections", tshark_streams), ("resets", tshark_rsts)):
        p = cli("classify", *map(str, FILES), "--format", "csv", "--table", table)
        assert p.returncode == 0, p.stderr
        rows = list(csv.reader(io.StringIO(p.stdout)))
        header, body = rows[0], rows[1:]
        assert header[0] == "capture" and "conn_id" in header
        assert header not in body  # written once, not once per capture
        assert all(len(r) == len(header) for r in body)
        per_file = [sum(r[0] == str(f) for r in body) for f in FILES]
        assert per_file == [count(tshark, f) for f in FILES], table


def test_jsonl_is_one_row_per_line_with_its_capture(tshark: str) -> None:
    p = cli("classify", *map(str, FILES), "--format", "jsonl", "--table", "resets")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    docs = [json.loads(line) for line in lines]  # each line a whole document
    for d in docs:
        jsonout.validate(d, "classify", lines=True)
        assert list(d)[0] == "capture" and "cause" in d
    assert [sum(d["capture"] == str(f) for d in docs) for f in FILES] == [tshark_rsts(tshark, f) for f in FILES]
    # Captures in the order given, rows in frame order within each.
    assert [d["capture"] for d in docs] == sorted((d["capture"] for d in docs), key=lambda c: list(map(str, FILES)).index(c))
    assert all(a["frame"] < b["frame"] for a, b in zip(docs, docs[1:]) if a["capture"] == b["capture"])


def test_json_of_several_captures_is_one_document() -> None:
    p = cli("classify", *map(str, FILES), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # two concatenated documents would not parse
    assert [d["file"] for d in doc] == list(map(str, FILES))


# ---- pipes, version ---------------------------------------------------------------------------

def _piped(command: str) -> tuple[str, str, list[str]]:
    """Run `command | head -1` in bash; (stdout, stderr, PIPESTATUS)."""
    script = f"{command} | head -1; echo \"status ${{PIPESTATUS[*]}}\" >&2"
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=600)
    *err, last = p.stderr.splitlines()
    return p.stdout, "\n".join(err), last.split()[1:]


def test_a_closed_pipe_ends_quietly() -> None:
    # Far more than a pipe holds (64 KiB), so rstlab is still writing when head exits.
    many = " ".join([str(FILES[2])] * 400)
    py = f"{sys.executable} -m rstlab"
    out, err, status = _piped(f"{py} classify {many} --format jsonl")
    assert len(out.splitlines()) == 1 and json.loads(out)["capture"] == str(FILES[2])
    assert (err, status) == ("", ["0", "0"])
    for command in (f"classify {many}", f"classify {many} --format csv", "scenarios", "--help"):
        out, err, status = _piped(f"{py} {command}")
        assert len(out.splitlines()) == 1 and (err, status) == ("", ["0", "0"]), command


def test_version_is_the_packages() -> None:
    p = cli("--version")
    assert (p.returncode, p.stdout) == (0, f"rstlab {metadata.version('rstlab')}\n")


# ---- exit statuses ----------------------------------------------------------------------------

def test_help_lists_the_exit_statuses() -> None:
    out = cli("--help").stdout
    assert "exit status" in out
    for code, meaning in (("0", "ok"), ("1", "an expectation failed"), ("2", "usage error")):
        assert f"  {code}  {meaning}" in out


def test_exit_2_for_usage_and_unusable_input(tmp_path: Path) -> None:
    assert cli("classify", "--format", "yaml", str(FILES[0])).returncode == 2  # argparse
    assert cli("run", "no_such_scenario").returncode == 2
    missing = cli("classify", str(tmp_path / "missing.pcap"), str(FILES[0]), "--format", "jsonl")
    assert missing.returncode == 2 and "missing.pcap" in missing.stderr
    assert missing.stdout and all(json.loads(x)["capture"] == str(FILES[0]) for x in missing.stdout.splitlines())
    # A damaged capture: the rows before the damage are still printed, and stderr says where.
    data = FILES[2].read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[: len(data) - 37])
    damaged = cli("classify", str(cut), "--format", "csv")
    assert damaged.returncode == 2 and "byte offset" in damaged.stderr
    assert len(list(csv.reader(io.StringIO(damaged.stdout)))) > 1
    assert cli("classify", str(FILES[0])).returncode == 0


def test_exit_1_when_an_expectation_fails(tmp_path: Path) -> None:
    # A conformance test that fails (pytest says 1) is an expectation that failed; pytest's own
    # usage error is one of ours.
    t = tmp_path / "test_mine.py"
    t.write_text("def test_fails():\n    assert 1 + 1 == 3\n\ndef test_holds():\n    assert 1 + 1 == 2\n")
    p = cli("conform", "--", str(t), "-k", "test_fails or test_holds")
    assert p.returncode == 1, p.stdout[-2000:]
    assert "1 failed, 1 passed" in p.stdout
    assert cli("conform", "--", str(t), "-k", "test_holds").returncode == 0
    assert cli("conform", "--", "--no-such-pytest-option").returncode == 2


def test_log_records_show_on_stderr_at_the_chosen_level(tmp_path: Path) -> None:
    from capwriter import ethernet, ipv4, ng_epb, ng_idb, ng_shb, tcp

    # An Ethernet interface and a USER0 one (link type 147, https://www.tcpdump.org/linktypes.html).
    syn = ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(40000, 80, 1000, 0, 0x02)))
    f = tmp_path / "two-links.pcapng"
    f.write_bytes(ng_shb() + ng_idb(1) + ng_idb(147) + ng_epb(0, 1, syn) + ng_epb(1, 2, b"\x01"))
    p = cli("classify", str(f), "--format", "csv")
    assert p.returncode == 0 and p.stderr == f"rstlab: {f}: 1 frames on unsupported link type 147 skipped " \
        "(interface 1; rstlab reads ETHERNET, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP, PPP, PPP_HDLC, " \
        "C_HDLC, FDDI, IEEE802_11, IEEE802_11_RADIOTAP, NFLOG)\n"
    p = cli("--log-level", "error", "classify", str(f), "--format", "csv")
    assert (p.returncode, p.stderr) == (0, "")
