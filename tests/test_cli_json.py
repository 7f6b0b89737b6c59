"""The JSON contract: every ``rstlab COMMAND --format json`` prints one document that parses and
satisfies its schema (``rstlab/schemas/<command>.json``, documented in docs/json.md), also when
something fails midway; and every run records what it was made on (kernel, pinned sysctls,
rstlab's version) in its JSON and in its pcapng's section header.

Expected values come from outside the code under test: the kernel (``/proc/sys/kernel/osrelease``,
the ``tcp_send_reset`` reasons the lab fixtures recorded), tshark / capinfos reading the files,
the package metadata, and the scenarios' declared sysctls.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import rstlab
import rstlab.jsonout as jsonout
from rstlab.cli import build_parser

jsonschema = pytest.importorskip("jsonschema", reason="the JSON contract tests need jsonschema (pip install rstlab[test])")

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "tests" / "fixtures" / "lab"
OSRELEASE = Path("/proc/sys/kernel/osrelease").read_text().strip()
# Times as RFC 3339 text, durations as integer nanoseconds (rstlab.jsonout).
ARROW_JSON = {"string": str, "bool": bool, "double": float, "float": float, "timestamp[ns, tz=UTC]": str,
              "duration[ns]": int, "list<item: string>": list}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rstlab", *args], capture_output=True, text=True, timeout=600)


def parsed(p: subprocess.CompletedProcess[str], command: str) -> object:
    """stdout is exactly one JSON document, valid against the command's schema."""
    doc = json.loads(p.stdout)  # raises on a half document or two documents
    jsonout.validate(doc, command)
    return doc


# ---- the contract itself ----------------------------------------------------------------------

def test_every_command_with_json_output_has_a_schema() -> None:
    sub = next(a for a in build_parser()._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    with_json = {name for name, p in sub.choices.items()
                 if any(a.dest == "format" and "json" in (a.choices or ()) for a in p._actions)}
    assert with_json == set(jsonout.COMMANDS) | {"connections"}


@pytest.mark.parametrize("command", jsonout.COMMANDS)
def test_schemas_are_valid_draft_2020_12(command: str) -> None:
    s = jsonout.schema(command)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(s)


def test_every_command_with_jsonl_output_has_a_line_schema() -> None:
    sub = next(a for a in build_parser()._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    with_jsonl = {name for name, p in sub.choices.items()
                  if any(a.dest == "format" and "jsonl" in (a.choices or ()) for a in p._actions)}
    assert with_jsonl == set(jsonout.LINES) | {"connections"}
    for command in jsonout.LINES:
        jsonschema.Draft202012Validator.check_schema(jsonout.schema(command, lines=True))


def test_docs_are_generated_from_the_schemas() -> None:
    assert (REPO / "docs" / "json.md").read_text() == jsonout.markdown(), (
        "regenerate: python -c \"import rstlab.jsonout as j; print(j.markdown(), end='')\" > docs/json.md")


def test_values_json_has_no_type_for_are_converted_or_refused() -> None:
    pa = pytest.importorskip("pyarrow")
    doc = {"b": b"\x04\x06", "nan": math.nan, "inf": -math.inf, "p": Path("/x"), "t": (1, 2),
           "s": pa.scalar(7), "a": pa.array([1, None])}
    assert jsonout.to_jsonable(doc) == {"b": [4, 6], "nan": None, "inf": None, "p": "/x", "t": [1, 2],
                                        "s": 7, "a": [1, None]}
    np = pytest.importorskip("numpy")
    assert jsonout.to_jsonable([np.int64(3), np.float64("nan"), np.array([4, 6], dtype=np.uint8)]) == [3, None, [4, 6]]
    with pytest.raises(TypeError, match="no JSON form"):
        jsonout.dumps({"x": object()})


# ---- scenarios --------------------------------------------------------------------------------

def test_scenarios_json_is_one_valid_document() -> None:
    p = cli("scenarios", "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = parsed(p, "scenarios")
    by_name = {s["name"]: s for s in doc}
    # The crash of issue #13: ip_versions arrived as bytes.
    assert by_name["s1_closed_port"]["ip_versions"] == [4, 6]
    assert {"host": "server", "key": "net.ipv4.tcp_abort_on_overflow", "value": "1"} in by_name["accept_overflow"]["sysctls"]


# ---- classify ---------------------------------------------------------------------------------

def _tshark_rsts(tshark: str, path: Path) -> int:
    out = subprocess.run([tshark, "-r", str(path), "-Y", "tcp.flags.reset == 1 && frame.interface_id == 0",
                          "-T", "fields", "-e", "frame.number"], capture_output=True, text=True, check=True).stdout
    return len(out.split())


def test_classify_json_one_capture(tshark: str) -> None:
    f = LAB / "accept_overflow-v4.pcapng"
    p = cli("classify", str(f), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = parsed(p, "classify")
    assert isinstance(doc, dict) and doc["file"] == str(f)
    assert len(doc["resets"]) == _tshark_rsts(tshark, f)
    # Rows carry exactly the tables' declared columns, each value of its Arrow type.
    columns = rstlab._rstlab.columns()
    for table in ("connections", "resets"):
        declared = {}
        for t, name, arrow, _doc in columns:
            # Text output shows a RST's evidence rendered: one `evidence` text where the table
            # keeps its template and values.
            if t == table and name == "evidence_template":
                declared["evidence"] = "string"
            elif t == table and name != "evidence_values":
                declared[name] = arrow
        for row in doc[table]:
            assert list(row) == list(declared)
            for name, v in row.items():
                if v is None:
                    continue
                arrow = declared[name]
                if arrow.startswith("dictionary<values=string"):
                    arrow = "string"
                want = int if arrow.startswith(("int", "uint")) else ARROW_JSON[arrow]
                assert isinstance(v, want) or (want is float and isinstance(v, int)), (table, name, arrow, v)


def test_classify_json_several_captures_is_one_array(tshark: str) -> None:
    files = [LAB / "s1_closed_port-v4.pcapng", LAB / "s11_linger_zero-v6.pcapng"]
    p = cli("classify", *map(str, files), "--format", "json", "--compact")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("\n") == 1
    doc = parsed(p, "classify")
    assert [d["file"] for d in doc] == list(map(str, files))
    assert [len(d["resets"]) for d in doc] == [_tshark_rsts(tshark, f) for f in files]


def test_classify_json_unreadable_file_leaves_stdout_empty_or_whole(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pcap"
    p = cli("classify", str(missing), "--format", "json")
    assert (p.returncode, p.stdout) == (2, "")
    assert "missing.pcap" in p.stderr
    p = cli("classify", str(LAB / "s1_closed_port-v4.pcapng"), str(missing), "--format", "json")
    assert p.returncode == 2 and "missing.pcap" in p.stderr
    assert [d["file"] for d in parsed(p, "classify")] == [str(LAB / "s1_closed_port-v4.pcapng")]


def test_classify_json_truncated_capture_says_where(tmp_path: Path) -> None:
    data = (LAB / "accept_overflow-v4.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[: len(data) - 37])
    p = cli("classify", str(cut), "--format", "json")
    assert p.returncode == 2
    doc = parsed(p, "classify")
    assert doc["error"]["message"] and 0 < doc["error"]["offset"] <= len(data)


def test_run_json_unknown_scenario_prints_nothing() -> None:
    p = cli("run", "no_such_scenario", "--format", "json")
    assert (p.returncode, p.stdout) == (2, "")
    assert "no_such_scenario" in p.stderr


# ---- runs (root) ------------------------------------------------------------------------------

def _declared_sysctls(name: str) -> list[dict[str, str]]:
    s = next(s for s in rstlab.lab.scenarios() if s["name"] == name)
    return [{"host": h, "key": k, "value": v} for h, k, v in s["sysctls"]]


@pytest.mark.rstlab_root
def test_run_json_one_run_records_kernel_version_and_reason() -> None:
    p = cli("run", "s1_closed_port", "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = parsed(p, "run")
    assert isinstance(doc, dict)
    assert doc["meta"]["kernel"] == OSRELEASE
    assert doc["meta"]["machine"] == os.uname().machine
    assert doc["meta"]["rstlab_version"] == metadata.version("rstlab")
    assert doc["meta"]["sysctls"] == _declared_sysctls("s1_closed_port")
    # A closed port: the stack answers the SYN, tcp_v4_send_reset with SK_RST_REASON_NO_SOCKET.
    assert [r["kernel_reason"] for r in doc["resets"]] == ["NO_SOCKET"]


@pytest.mark.rstlab_root
def test_run_json_both_versions_is_an_array_and_text_gives_wall_time() -> None:
    p = cli("run", "s1_closed_port", "--ip", "4", "--ip", "6", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert [(d["scenario"], d["ip_version"]) for d in parsed(p, "run")] == [("s1_closed_port", 4), ("s1_closed_port", 6)]
    t = cli("run", "s1_closed_port", "--ip", "4", "--ip", "6")
    assert t.returncode == 0, t.stderr
    assert t.stdout.splitlines()[-1].startswith("# 2 of 2 runs in ") and " s wall time" in t.stdout


@pytest.mark.rstlab_root
def test_run_all_json_covers_the_catalogue() -> None:
    p = cli("run", "--all", "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = parsed(p, "run")
    want = [(s["name"], v) for s in rstlab.lab.scenarios() for v in s["ip_versions"]]
    assert [(d["scenario"], d["ip_version"]) for d in doc] == want
    for d in doc:
        assert d["meta"]["sysctls"][: len(_declared_sysctls(d["scenario"]))] == _declared_sysctls(d["scenario"])


@pytest.mark.rstlab_root
def test_claims_and_agreement_json() -> None:
    p = cli("claims", "-s", "s1_closed_port", "-s", "s11_linger_zero", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert sorted({(c["claim"], c["ip_version"]) for c in parsed(p, "claims")}) == [("S1", 4), ("S1", 6), ("S11", 4), ("S11", 6)]
    p = cli("agreement", "-s", "s1_closed_port", "--format", "json")
    assert p.returncode == 0, p.stderr
    a = parsed(p, "agreement")
    # One stack RST per run (v4, v6): the closed port's NO_SOCKET reply.
    assert (a["stack_rsts"], [r["kernel_reason"] for r in a["rows"]]) == (2, ["NO_SOCKET", "NO_SOCKET"])


@pytest.mark.rstlab_root
def test_pcapng_section_header_names_kernel_sysctls_and_version(tmp_path: Path) -> None:
    capinfos = shutil.which("capinfos")
    if capinfos is None:
        pytest.skip("capinfos not installed (apt-get install tshark)")
    out = tmp_path / "ao.pcapng"
    p = cli("run", "accept_overflow", "--ip", "6", "-o", str(out), "--format", "json")
    assert p.returncode == 0, p.stderr
    info = dict(line.split(":", 1) for line in subprocess.run([capinfos, str(out)], capture_output=True, text=True,
                                                               check=True).stdout.splitlines() if ":" in line)
    info = {k.strip(): v.strip() for k, v in info.items()}
    assert info["Capture oper-sys"] == f"Linux {OSRELEASE}"
    assert info["Capture application"] == f"rstlab {metadata.version('rstlab')}"
    assert info["Capture hardware"] == os.uname().machine
    comment = info["Capture comment"]
    assert f"run accept_overflow IPv6 on Linux {OSRELEASE}" in comment
    for s in _declared_sysctls("accept_overflow"):
        assert f"sysctl {s['host']} {s['key']}={s['value']}" in comment


@pytest.mark.rstlab_root
def test_composed_lab_records_the_sysctls_it_set() -> None:
    with rstlab.lab.Lab("meta", sysctls=[("server", "net.ipv4.tcp_fin_timeout", "7")]) as lab:
        lab.sysctl("client", "net.ipv4.tcp_syn_retries", "2")
        run = lab.finish()
    assert run.meta["sysctls"] == [{"host": "server", "key": "net.ipv4.tcp_fin_timeout", "value": "7"},
                                   {"host": "client", "key": "net.ipv4.tcp_syn_retries", "value": "2"}]
    assert run.meta["kernel"] == OSRELEASE
