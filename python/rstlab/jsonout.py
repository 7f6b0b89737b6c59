"""The JSON contract of ``rstlab COMMAND --format json``.

Each command prints exactly one JSON document, described by a JSON Schema (draft 2020-12) that
ships with the package as data: ``rstlab/schemas/<command>.json``. Commands with ``--format
jsonl`` (:data:`LINES`) print one object per line instead, each described by
``rstlab/schemas/<command>.line.json``. ``docs/json.md`` is generated
from those files (:func:`markdown`; ``tests/test_cli_json.py`` checks both, and validates every
command's real output against its schema).

A document is built completely before anything is written (:func:`dumps`), so a failure midway
leaves stdout empty and the error on stderr — never half a document. Values that JSON has no
type for are converted here, in one place: bytes to lists of ints (PyO3 hands a Rust ``Vec<u8>``
over as ``bytes``), NumPy and Arrow scalars and arrays to plain values, NaN and infinities to
``null`` (JSON has neither, RFC 8259 §6), paths to strings, times (the tables'
``timestamp[ns, tz=UTC]`` columns) to RFC 3339 text in UTC with nine fractional digits
(``2026-12-05T21:09:58.123456789Z``, :func:`rstlab.table.rfc3339`) and durations to integer
nanoseconds: nothing lost, where float seconds lose sub-microsecond steps at today's epoch.
Anything else is a bug and raises.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import math
import os
from functools import lru_cache
from importlib import resources
from typing import Any

from .table import rfc3339, time_ns

__all__ = ["COMMANDS", "LINES", "schema", "to_jsonable", "dumps", "validate", "markdown"]

#: Commands with ``--format json`` (``connections`` is ``classify`` under its engine name).
COMMANDS = ("classify", "scenarios", "run", "claims", "agreement", "generate", "calibrate")
#: Commands with ``--format jsonl`` too: one object per line.
LINES = ("classify", "watch")


@lru_cache(maxsize=None)
def _schema_text(command: str, lines: bool) -> str:
    known = LINES if lines else COMMANDS
    if command not in known:
        fmt = "jsonl" if lines else "json"
        raise ValueError(f"no JSON schema for `{command} --format {fmt}`: commands with --format {fmt} are {', '.join(known)}")
    name = f"{command}.line.json" if lines else f"{command}.json"
    return (resources.files("rstlab") / "schemas" / name).read_text(encoding="utf-8")


def schema(command: str, *, lines: bool = False) -> dict[str, Any]:
    """The JSON Schema of ``rstlab <command> --format json``'s output (with ``lines``: of one
    line of ``--format jsonl``)."""
    loaded: dict[str, Any] = json.loads(_schema_text(command, lines))
    return loaded


def to_jsonable(v: Any) -> Any:
    """``v`` with every value JSON can hold, converted as the module docstring says."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    if isinstance(v, (bytes, bytearray, memoryview)):
        return list(bytes(v))
    if isinstance(v, (set, frozenset)):
        return [to_jsonable(x) for x in sorted(v, key=repr)]
    if isinstance(v, enum.Enum):
        return to_jsonable(v.value)
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if isinstance(v, _dt.datetime) and (v.tzinfo is not None or hasattr(v, "value")):
        return rfc3339(time_ns(v))  # a table's time, pandas.Timestamp to the nanosecond
    if isinstance(v, _dt.timedelta):
        return int(getattr(v, "value", v // _dt.timedelta(microseconds=1) * 1000))
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return v.isoformat()
    if hasattr(v, "as_py"):  # pyarrow scalars
        return to_jsonable(v.as_py())
    if hasattr(v, "to_pylist"):  # pyarrow arrays, tables, record batches
        return to_jsonable(v.to_pylist())
    if hasattr(v, "tolist"):  # numpy scalars and arrays
        return to_jsonable(v.tolist())
    raise TypeError(f"no JSON form for a {type(v).__module__}.{type(v).__qualname__}: convert it in rstlab.jsonout")


def dumps(doc: Any, *, compact: bool = False) -> str:
    """The whole document as one string (with a final newline), ready to write at once."""
    return json.dumps(to_jsonable(doc), indent=None if compact else 1, allow_nan=False, ensure_ascii=False) + "\n"


def validate(doc: Any, command: str, *, lines: bool = False) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``doc`` satisfies ``command``'s schema (with
    ``lines``: the schema of one jsonl line). Needs the ``jsonschema`` package (``pip install
    rstlab[test]``)."""
    import jsonschema
    from referencing import Registry, Resource

    # A schema may refer to another command's (`generate` items are `run.json#/$defs/run`).
    registry: Registry[Any] = Registry().with_resources(
        (f"{c}.json", Resource.from_contents(schema(c))) for c in COMMANDS)
    jsonschema.Draft202012Validator(schema(command, lines=lines), registry=registry).validate(doc)


# ---- docs/json.md ------------------------------------------------------------------------------

def _type(p: dict[str, Any]) -> str:
    if "$ref" in p:
        return f"`{p['$ref'].rsplit('/', 1)[-1]}`"
    if "enum" in p:
        return " \\| ".join("null" if e is None else f"`{json.dumps(e)}`" for e in p["enum"])
    t = p.get("type", "any")
    ts = t if isinstance(t, list) else [t]
    out = []
    for x in ts:
        if x == "array" and isinstance(p.get("items"), dict):
            item = _type(p["items"])
            out.append(f"array of ({item})" if "\\|" in item else f"array of {item}")
        elif x == "object" and isinstance(p.get("additionalProperties"), dict):
            out.append(f"object of {_type(p['additionalProperties'])}")
        else:
            out.append(x)
    return " \\| ".join(out)


def _object(name: str, s: dict[str, Any]) -> list[str]:
    lines = [f"**`{name}`**" + (f": {s['description']}" if s.get("description") else ""), ""]
    props = s.get("properties")
    if not props:
        lines += [f"Type: {_type(s)}.", ""]
        return lines
    required = set(s.get("required", ()))
    lines += ["| field | type | required | meaning |", "|---|---|---|---|"]
    for k, p in props.items():
        desc = p.get("description", "").replace("|", "\\|")
        lines.append(f"| `{k}` | {_type(p)} | {'yes' if k in required else 'no'} | {desc} |")
    lines.append("")
    for k, p in props.items():
        nested = p.get("items", p) if p.get("type") == "array" else p
        if isinstance(nested, dict) and "properties" in nested:
            lines += _object(f"{name}.{k}", {**nested, "description": ""})
    return lines


def markdown() -> str:
    """``docs/json.md``: every command's document, generated from the schema files."""
    lines = [
        "# JSON output",
        "",
        "Every `rstlab COMMAND --format json` prints exactly one JSON document on stdout; errors go",
        "to stderr with a non-zero exit status, and a document is either printed whole or not at all.",
        "The schemas (JSON Schema draft 2020-12) ship with the package, `rstlab/schemas/<command>.json`;",
        "read one with `rstlab.jsonout.schema(command)`, check a document with",
        "`rstlab.jsonout.validate(doc, command)`. This page is generated from them:",
        "`python -c \"import rstlab.jsonout as j; print(j.markdown(), end='')\" > docs/json.md`.",
        "",
    ]
    for command in dict.fromkeys(COMMANDS + LINES):
        docs = (([("json", schema(command))] if command in COMMANDS else [])
                + ([("jsonl", schema(command, lines=True))] if command in LINES else []))
        for fmt, s in docs:
            lines += [f"## `rstlab {command} --format {fmt}`", "", s["description"], ""]
            if s.get("type") == "array" and "properties" in s.get("items", {}):
                lines += _object("item", s["items"])
            elif "properties" in s:
                lines += _object("line", {**s, "description": ""}) if fmt == "jsonl" else _object("document", s)
                if isinstance(s.get("additionalProperties"), dict):
                    lines += [f"Other fields: {_type(s['additionalProperties'])}.", ""]
            elif "oneOf" in s:
                lines += ["Shape: " + " or ".join(_type(x) for x in s["oneOf"]) + ".", ""]
            for name, d in s.get("$defs", {}).items():
                lines += _object(name, d)
    return "\n".join(lines)
