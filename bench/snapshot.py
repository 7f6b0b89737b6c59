"""Snapshot every table rstlab writes for a set of captures, to prove a change alters no output.

    python bench/snapshot.py write DIR [--mutants N]   # tables of every capture, as Arrow IPC
    python bench/snapshot.py compare A B               # byte-for-byte; prints what differs

The captures are every file under ../shared/traces and tests/fixtures/lab, plus N header-mutated
variants of each (deterministic: the same seed makes the same bytes), written under DIR/inputs so
that two snapshots taken with different builds read identical files. Per capture the snapshot
keeps the connections, resets, segments and Zeek tables (Arrow IPC stream bytes) and the error
the read raised, if any.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT.parent / "shared" / "traces", ROOT / "tests" / "fixtures" / "lab"]
CAPTURE_SUFFIXES = {".pcap", ".pcapng", ".cap", ".trace", ".dump"}
TABLES = ("connections", "resets", "segments", "zeek_conns")


def captures() -> list[tuple[str, Path]]:
    """(key, path): keys name a capture by its place under its source folder, so snapshots taken
    from different checkouts compare."""
    out = []
    for src in SOURCES:
        if src.is_dir():
            out += sorted((f"{src.name}/{p.relative_to(src)}", p) for p in src.rglob("*")
                          if p.is_file() and p.suffix in CAPTURE_SUFFIXES)
    return out


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Damage packet headers, not file framing: flip a byte in the first 80 bytes of a record's
    data, so the variant still reads but its TCP / IP fields take odd values."""
    b = bytearray(data)
    if len(b) < 64:
        return bytes(b)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(24, len(b))
        op = rng.random()
        if op < 0.7:
            b[at] = rng.randrange(256)
        elif op < 0.85:
            b[at:at + 2] = struct.pack(">H", rng.choice([0, 1, 0xFFFF, 0x8000, rng.randrange(1 << 16)]))
        else:
            b[at] ^= 1 << rng.randrange(8)
    return bytes(b)


def inputs(out: Path, mutants: int) -> list[tuple[str, Path]]:
    files = []
    dst = out / "inputs"
    dst.mkdir(parents=True, exist_ok=True)
    for i, (key, p) in enumerate(captures()):
        files.append((key, p))
        data = p.read_bytes()
        rng = random.Random(f"{p.name}:{i}")
        for k in range(mutants):
            q = dst / f"{i:04d}-{k}-{p.name}"
            if not q.exists():
                q.write_bytes(mutate(rng, data))
            files.append((f"inputs/{q.name}", q))
    return files


def ipc(table: object) -> bytes:
    import pyarrow as pa

    t = table.to_arrow()  # type: ignore[attr-defined]
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    return sink.getvalue().to_pybytes()


def write(out: Path, mutants: int) -> None:
    import rstlab

    out.mkdir(parents=True, exist_ok=True)
    index = {}
    for key, p in inputs(out, mutants):
        entry: dict[str, object] = {}
        try:
            t = rstlab.read(p, errors="keep")
            entry["error"] = None if t.error is None else f"{type(t.error).__name__}: {t.error} @ {t.error.offset}"
        except Exception as e:  # noqa: BLE001 - the exception is part of the output
            entry["error"] = f"{type(e).__name__}: {e}"
            t = None
        if t is not None:
            for name in TABLES:
                data = ipc(getattr(t, name))
                h = hashlib.sha256(data).hexdigest()
                (out / "tables").mkdir(exist_ok=True)
                (out / "tables" / h).write_bytes(data)
                entry[name] = h
        if isinstance(entry["error"], str):
            # The message names the file; snapshots of the same inputs live in different folders.
            entry["error"] = entry["error"].replace(str(p), f"<{key}>")
        index[key] = entry
    (out / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True))
    print(f"{len(index)} captures snapshotted into {out}")


def compare(a: Path, b: Path) -> int:
    ia = json.loads((a / "index.json").read_text())
    ib = json.loads((b / "index.json").read_text())
    bad = 0
    for key in sorted(set(ia) | set(ib)):
        ea, eb = ia.get(key), ib.get(key)
        if ea != eb:
            bad += 1
            if bad <= 20:
                diff = [k for k in sorted(set(ea or {}) | set(eb or {})) if (ea or {}).get(k) != (eb or {}).get(k)]
                print(f"DIFFERS {key}: {diff}")
    n = len(set(ia) | set(ib))
    tables = sum(1 for e in ia.values() for k in TABLES if k in e)
    print(f"{n} captures, {tables} tables: {n - bad} identical, {bad} differ")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("dir", type=Path)
    w.add_argument("--mutants", type=int, default=6)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args()
    if args.cmd == "write":
        write(args.dir.resolve(), args.mutants)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
