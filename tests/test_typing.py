"""Types (issue #17 item 3): the stub matches the compiled module (mypy's stubtest), the package
is clean under ``mypy --strict``, pyright counts ≥ 95 % of its public symbols fully typed, and
what a type checker sees of the public API is precise (``tests/typing_usage.py``, checked by mypy
and basedpyright). The hand-written row types (``rstlab.rows``) are checked against what the Rust
side really returns: the Arrow schemas of a real capture's tables, and a real lab run's records.

Conventions (see ``rstlab/rows.py`` and ``pyproject.toml``'s ``[tool.mypy]``): pyarrow, pandas,
jsonschema and tqdm ship no type information, so their objects are ``Any`` to mypy (annotations
still name ``pa.Table`` / ``pd.DataFrame``, imported under ``TYPE_CHECKING``), and pyright's score
is taken with ``--ignoreexternal`` (a symbol whose type is, or contains, such a library's type is
not counted against rstlab).

Every tool runs on this checkout's sources (``MYPYPATH`` / ``PYTHONPATH``) against the installed
extension (``make test`` installs the checkout first); a failure lists each of the tool's errors.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest

import rstlab
from rstlab import rows
from rstlab.trace import Connection

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "python"
USAGE = ROOT / "tests" / "typing_usage.py"
FIXTURE = ROOT / "tests" / "fixtures" / "lab" / "accept_overflow-v4.pcapng"
MIN_COMPLETENESS = 0.95


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (make python-deps installs it)")


def _tool(args: list[str], *, env_path: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env[env_path] = str(SRC) + (os.pathsep + env[env_path] if env.get(env_path) else "")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _mypy(*targets: str) -> subprocess.CompletedProcess[str]:
    _need("mypy")
    return _tool([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                  "--no-incremental", "--show-error-codes", *targets], env_path="MYPYPATH", cwd=ROOT)


def _errors(out: str) -> str:
    return "\n".join(line for line in out.splitlines() if ": error:" in line) or out


def test_stub_matches_the_compiled_module() -> None:
    _need("mypy")
    p = _tool([sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", str(ROOT / "pyproject.toml"),
               "rstlab._rstlab"], env_path="MYPYPATH", cwd=ROOT)
    # stubtest prints each error as "error: <what>" followed by its Stub: and Runtime: lines.
    assert p.returncode == 0, f"stubtest rstlab._rstlab:\n{p.stdout}{p.stderr}"
    assert "Success" in p.stdout, p.stdout


def test_package_is_clean_under_mypy_strict() -> None:
    p = _mypy(str(SRC / "rstlab"))
    assert p.returncode == 0, f"mypy --strict python/rstlab:\n{_errors(p.stdout)}\n{p.stderr}"


def test_public_api_types_are_precise_to_mypy() -> None:
    p = _mypy(str(USAGE))
    assert p.returncode == 0, f"mypy --strict tests/typing_usage.py:\n{_errors(p.stdout)}\n{p.stderr}"


def _basedpyright() -> str:
    exe = shutil.which("basedpyright", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        pytest.skip("basedpyright is not installed (make python-deps installs it from PyPI)")
    return exe


def test_public_api_types_are_precise_to_pyright() -> None:
    # The same file: pyright must agree with every assert_type, and report exactly the mistakes
    # marked "type: ignore" (basedpyright does not honour mypy's ignore comments by default).
    p = _tool([_basedpyright(), "--level", "error", "--pythonpath", sys.executable, "--outputjson",
               str(USAGE)], env_path="PYTHONPATH", cwd=ROOT)
    out = json.loads(p.stdout)
    found = {d["range"]["start"]["line"] + 1: d["message"] for d in out["generalDiagnostics"]
             if d["severity"] == "error"}
    marked = {i for i, line in enumerate(USAGE.read_text().splitlines(), 1) if "# type: ignore" in line}
    assert marked, "the usage file marks no mistake: the check would prove nothing"
    unexpected = {k: v for k, v in found.items() if k not in marked}
    missed = sorted(marked - set(found))
    assert not unexpected and not missed, (
        "basedpyright tests/typing_usage.py:\n"
        + "".join(f"  line {k}: {v}\n" for k, v in sorted(unexpected.items()))
        + "".join(f"  line {k}: the marked mistake was not reported (now Any?)\n" for k in missed))


def test_pyright_type_completeness() -> None:
    p = _tool([_basedpyright(), "--verifytypes", "rstlab", "--ignoreexternal", "--outputjson",
               "--pythonpath", sys.executable], env_path="PYTHONPATH", cwd=ROOT)
    out = json.loads(p.stdout)
    tc = out["typeCompleteness"]
    assert Path(tc["packageRootDirectory"]).resolve() == (SRC / "rstlab").resolve(), tc["packageRootDirectory"]
    score = tc["completenessScore"]
    incomplete = [f"  {s['name']}: " + "; ".join(d["message"].replace("\n", " ") for d in s["diagnostics"])
                  for s in tc["symbols"] if s["isExported"] and not s["isTypeKnown"]]
    assert tc["exportedSymbolCounts"]["withKnownType"] > 300, tc["exportedSymbolCounts"]
    assert score >= MIN_COMPLETENESS, (f"pyright type completeness {score:.1%} < {MIN_COMPLETENESS:.0%}; "
                                       f"not fully typed:\n" + "\n".join(incomplete))


# --- the row types against what Rust returns ------------------------------------------------------


def _python_type(arrow_type: Any, nullable: bool) -> object:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_boolean(arrow_type):
        t: object = bool
    elif pa.types.is_integer(arrow_type):
        t = int
    elif pa.types.is_floating(arrow_type):
        t = float
    elif pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        t = str
    elif pa.types.is_timestamp(arrow_type):
        t = datetime.datetime
    elif pa.types.is_duration(arrow_type):
        t = datetime.timedelta
    elif pa.types.is_list(arrow_type):  # `alternatives`: a list that holds no nulls
        t = list[_python_type(arrow_type.value_type, False)]  # type: ignore[misc]
    else:
        raise AssertionError(f"no Python type for Arrow {arrow_type}: extend this mapping and rows.py")
    return t | None if nullable else t  # type: ignore[operator]


ROW_TYPES = {"connections": rows.ConnectionRow, "segments": rows.SegmentRow,
             "zeek_conns": rows.ZeekConnRow, "resets": rows.ResetRow}


@pytest.mark.parametrize("table", sorted(ROW_TYPES))
def test_row_types_match_the_arrow_schemas(table: str) -> None:
    t = rstlab.read(FIXTURE)
    schema = getattr(t, table).to_arrow().schema
    assert len(getattr(t, table)) > 0, f"{FIXTURE.name} has no {table} rows to read the schema from"
    declared = [(c, typ) for tb, c, typ, _ in rstlab.table.columns() if tb == table]
    assert [c for c, _ in declared] == schema.names  # the declarations and the table agree
    # A row is what iteration gives: the readable table (the resets' evidence rendered).
    schema = rstlab.table.readable(getattr(t, table).to_arrow()).schema
    want = {f.name: _python_type(f.type, f.nullable) for f in schema}
    got = typing.get_type_hints(ROW_TYPES[table])
    assert list(got) == schema.names, f"rows.{ROW_TYPES[table].__name__} keys differ from the {table} columns"
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not wrong, f"rows.{ROW_TYPES[table].__name__}: (declared, from the Arrow schema): {wrong}"


def test_connection_attributes_are_its_row_columns() -> None:
    hints = typing.get_type_hints(Connection)
    conn_id = typing.get_type_hints(Connection.conn_id.fget)["return"]  # a property
    row = typing.get_type_hints(rows.ConnectionRow)
    attrs = {k: (conn_id if k == "conn_id" else hints.get(k)) for k in row}
    assert attrs == row


def _conforms(value: object, hint: object, where: str) -> list[str]:
    """Where ``value`` does not have type ``hint`` (None: it does)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if any(not _conforms(value, h, where) for h in options):
            return []
        return [f"{where}: {value!r} is not {hint}"]
    if hint is type(None):
        return [] if value is None else [f"{where}: {value!r} is not None"]
    if typing.is_typeddict(hint):
        assert isinstance(hint, type)
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not a dict"]
        fields = typing.get_type_hints(hint)
        bad = [f"{where}: keys {sorted(value)} != {hint.__name__}'s {sorted(fields)}"] if set(value) != set(fields) else []
        for k, h in fields.items():
            if k in value:
                bad += _conforms(value[k], h, f"{where}[{k!r}]")
        return bad
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        (item,) = typing.get_args(hint)
        return [e for i, v in enumerate(value) for e in _conforms(v, item, f"{where}[{i}]")]
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple) or len(value) != len(args):
            return [f"{where}: {value!r} is not {hint}"]
        return [e for i, (v, h) in enumerate(zip(value, args)) for e in _conforms(v, h, f"{where}[{i}]")]
    assert isinstance(hint, type), hint
    # bool is an int to isinstance, never to these records.
    ok = isinstance(value, hint) and not (hint is not bool and isinstance(value, bool))
    return [] if ok else [f"{where}: {value!r} is not {hint.__name__}"]


def test_conforms_finds_mismatches() -> None:
    assert _conforms({"holds": True, "evidence": "x"}, rows.Verdict, "v") == []
    assert _conforms({"holds": 1, "evidence": "x"}, rows.Verdict, "v")
    assert _conforms({"holds": True}, rows.Verdict, "v")
    assert _conforms([("a", "b", 3)], list[tuple[str, str, str]], "s")
    assert _conforms(True, int, "i") and not _conforms(None, int | None, "i")


def test_scenario_info_matches_the_catalogue() -> None:
    catalogue = rstlab.lab.scenarios()
    assert len(catalogue) > 10
    bad = [e for s in catalogue for e in _conforms(s, rows.ScenarioInfo, s["name"])]
    assert not bad, "\n".join(bad)


@pytest.mark.rstlab_userns
def test_run_records_match_their_row_types() -> None:
    # SO_LINGER {1,0} then close(): one RST (RFC 9293 §3.10.5 ABORT) and an application that
    # sees ECONNRESET, so every kind of record is there to check.
    run = rstlab.lab.run("s11_linger_zero")
    native = run._native
    assert native.resets and native.app_events, "the run produced nothing to check"
    # The resets are a table (its `ts` a timestamp[ns] column, from the native rows' exact ns).
    bad = (_conforms(run.resets.to_pylist(), list[rows.RunResetRow], "resets")
           + _conforms(native.app_events, list[rows.AppEvent], "app_events")
           + _conforms(native.kernel_events, list[rows.KernelEvent], "kernel_events")
           + _conforms(native.verdict, rows.Verdict | None, "verdict")
           + _conforms(native.meta, rows.RunMeta, "meta"))
    assert not bad, "\n".join(bad)
    assert re.fullmatch(r"\d+\.\d+.*", native.meta["kernel"]), native.meta["kernel"]


# --- the JSON documents' row types against their published schemas ----------------------------

_JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null",
              datetime.datetime: "string"}  # RFC 3339 text (rstlab.jsonout.to_jsonable)


def _json_types(hint: object) -> set[str]:
    """The JSON types a value of ``hint`` can encode as (scalars, unions, literals)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_json_types(h) for h in typing.get_args(hint)))
    if origin is typing.Literal:
        return {_JSON_TYPE[type(v)] for v in typing.get_args(hint)}
    assert hint in _JSON_TYPE, f"not a JSON scalar: {hint}"
    return {_JSON_TYPE[hint]}  # type: ignore[index]


def _schema_mismatches(hint: object, schema: dict[str, Any], defs: dict[str, Any], where: str) -> list[str]:
    """Where ``hint`` and the JSON Schema ``schema`` describe different documents."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    origin = typing.get_origin(hint)
    if typing.is_typeddict(hint):
        fields = typing.get_type_hints(hint)
        props = schema.get("properties", {})
        bad = []
        # A `NotRequired` key (RunDict.program, only in generated runs) is a property the schema
        # does not require.
        required = set(getattr(hint, "__required_keys__", fields))
        if schema.get("type") != "object" or set(props) != set(fields) or set(schema.get("required", ())) != required:
            bad.append(f"{where}: keys {sorted(fields)} vs the schema's properties {sorted(props)} "
                       f"(required {sorted(schema.get('required', ()))})")
        return bad + [e for k in set(fields) & set(props)
                      for e in _schema_mismatches(fields[k], props[k], defs, f"{where}.{k}")]
    if origin is list:
        if schema.get("type") != "array":
            return [f"{where}: a list, but the schema says {schema}"]
        return _schema_mismatches(typing.get_args(hint)[0], schema["items"], defs, f"{where}[]")
    if origin is dict:
        if typing.get_args(hint)[1] is Any and schema.get("type") == "object" and "properties" not in schema:
            return []  # a free-form object both ways (a generated run's `program`)
        if schema.get("type") != "object" or "additionalProperties" not in schema:
            return [f"{where}: a dict, but the schema says {schema}"]
        value = typing.get_args(hint)[1]
        got = _json_types(value) | ({"null"} if float in (value, *typing.get_args(value)) else set())
        want = _schema_json_types(schema["additionalProperties"])
        # (a non-finite float is written as null: rstlab.jsonout.to_jsonable)
        return [] if got == want else [f"{where}{{}}: {value} encodes as {sorted(got)}, the schema allows {sorted(want)}"]
    got = _json_types(hint)
    want = _schema_json_types(schema)
    if got != want:
        return [f"{where}: {hint} encodes as {sorted(got)}, the schema allows {sorted(want)}"]
    literals = _literals(hint)
    if "enum" in schema and literals is not None and literals != set(schema["enum"]):
        return [f"{where}: values {sorted(map(str, literals))} vs the schema's enum {schema['enum']}"]
    return []


def _literals(hint: object) -> set[object] | None:
    """The values a ``Literal`` hint (or a union of literals and None) allows; None for others."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return set(typing.get_args(hint))
    if hint is type(None):
        return {None}
    if origin in (typing.Union, types.UnionType):
        parts = [_literals(h) for h in typing.get_args(hint)]
        return None if any(p is None for p in parts) else set().union(*parts)  # type: ignore[arg-type]
    return None


def _schema_json_types(schema: dict[str, Any]) -> set[str]:
    if "enum" in schema:
        return {_JSON_TYPE[type(v)] for v in schema["enum"]}
    t = schema["type"]
    return {t} if isinstance(t, str) else set(t)


def test_schema_check_finds_mismatches() -> None:
    s = {"type": "object", "required": ["holds", "evidence"],
         "properties": {"holds": {"type": "boolean"}, "evidence": {"type": "string"}}}
    assert _schema_mismatches(rows.Verdict, s, {}, "v") == []
    assert _schema_mismatches(rows.Verdict, {**s, "properties": {**s["properties"], "holds": {"type": "string"}}}, {}, "v")
    assert _schema_mismatches(rows.Verdict, {**s, "required": ["holds"]}, {}, "v")
    assert _schema_mismatches(rows.ClaimVerdict | None, {"enum": ["holds", "differs", None]}, {}, "v") == []
    assert _schema_mismatches(rows.ClaimVerdict, {"enum": ["holds", "other"]}, {}, "v")


@pytest.mark.parametrize("command,hint", [("claims", list[rows.Claim]), ("agreement", rows.Agreement),
                                          ("run", rows.RunDict)])
def test_json_row_types_match_the_published_schemas(command: str, hint: object) -> None:
    from rstlab.jsonout import schema

    doc = schema(command)
    if "oneOf" in doc:  # `rstlab run`: one run, or an array of runs
        doc = doc["oneOf"][0]
    bad = _schema_mismatches(hint, doc, doc.get("$defs", schema(command).get("$defs", {})), command)
    assert not bad, "\n".join(bad)
