"""What a type checker must see of rstlab's public API: checked, never run (tests/test_typing.py
runs ``mypy --strict`` over this file). Each ``assert_type`` fails if the type becomes ``Any``
or anything else; each ``type: ignore[...]`` marks a mistake the checker must catch (strict mode
reports an ignore that is no longer needed, so an attribute turning into ``Any`` fails too)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import assert_type

import rstlab
from rstlab.lab import Lab, Run, Sock
from rstlab.rows import (Agreement, AppEvent, Claim, ClaimVerdict, ConnectionRow, KernelEvent,
                         ResetRow, RunDict, RunMeta, RunResetRow, ScenarioInfo, SegmentRow,
                         ZeekConnRow)
from rstlab.rows import CaptureConnectionRow, CaptureError, CaptureResetRow, CaptureZeekConnRow
from rstlab.table import Table


def many_side(path: Path) -> None:
    m = rstlab.read_many([path, "captures/"], workers=2, errors="keep", progress=True)
    assert_type(m, rstlab.Captures)
    assert_type(m.resets, Table[CaptureResetRow])
    assert_type(m.connections, Table[CaptureConnectionRow])
    assert_type(m.zeek_conns, Table[CaptureZeekConnRow])
    assert_type(m.errors, list[CaptureError])
    for r in m.resets:
        assert_type(r["capture"], str)
        assert_type(r["cause"], str)
    for e in m.errors:
        assert_type(e["offset"], int | None)
    rstlab.read_many(path, errors="ignore")  # type: ignore[arg-type]


def trace_side(path: Path) -> None:
    t = rstlab.read(path)
    assert_type(t, rstlab.Trace)
    assert_type(t.connections, Table[ConnectionRow])
    assert_type(t.resets, Table[ResetRow])
    assert_type(t.segments, Table[SegmentRow])
    assert_type(t.zeek_conns, Table[ZeekConnRow])
    assert_type(t.counts, dict[str, int])
    assert_type(t.error, rstlab.TraceFormatError | None)
    assert_type(t.cause_counts(), dict[str, int])
    for r in t.resets:
        assert_type(r, ResetRow)
        assert_type(r["cause"], str)
        assert_type(r["trigger"], int | None)
        r["no_such_column"]  # type: ignore[typeddict-item]
    assert_type(t.resets.to_pylist(), list[ResetRow])
    assert_type(t.resets.filter(cause="abort"), Table[ResetRow])
    assert_type(len(t.resets), int)
    assert_type(t.resets.columns, list[str])

    c = t.connection(0)
    assert_type(c, rstlab.Connection)
    assert_type(c.row, ConnectionRow)
    assert_type(c.conn_id, int)
    assert_type(c.conn_state, str)
    assert_type(c.orig_port, int)
    assert_type(c.duration, timedelta)
    assert_type(c.orig_rst_frame, int | None)
    assert_type(c.segments, Table[SegmentRow])
    assert_type(c.resets, Table[ResetRow])
    assert_type(c.trace, rstlab.Trace | None)
    assert_type(c.ladder(), str)
    c.no_such_column  # type: ignore[attr-defined]


def lab_side() -> None:
    assert_type(rstlab.lab.scenarios(), list[ScenarioInfo])
    assert_type(rstlab.lab.scenarios()[0]["ip_versions"], list[int])
    assert_type(rstlab.lab.mode(), str | None)

    run = rstlab.lab.run("s11_linger_zero", ip_version=6)
    assert_type(run, Run)
    assert_type(run.verdict, ClaimVerdict | None)
    assert_type(run.to_dict(), RunDict)
    assert_type(rstlab.lab.claims([run]), list[Claim])
    assert_type(rstlab.lab.agreement([run]), Agreement)
    assert_type(rstlab.lab.agreement([run])["share"], float | None)
    assert_type(run.evidence, str)
    assert_type(run.resets, Table[RunResetRow])
    assert_type(run.app_events, Table[AppEvent])
    assert_type(run.kernel_events, Table[KernelEvent])
    assert_type(run.meta, RunMeta)
    assert_type(run.hosts, dict[str, str])
    assert_type(run.pcapng, str | None)
    assert_type(run.trace, rstlab.Trace)
    for r in run.resets:
        assert_type(r["kernel_reason"], str | None)
        assert_type(r["agrees"], bool | None)

    with Lab(ip_version=6) as lab:
        assert_type(lab, Lab)
        assert_type(lab.addr("server"), str)
        assert_type(lab.server_addr(), tuple[str, int])
        assert_type(lab.spawn("server", ["./my_server"]), int)
        assert_type(lab.drop_input("server"), int)
        assert_type(lab.wait_rst(), bool)
        s = lab.socket("client")
        assert_type(s, Sock)
        s.connect((lab.addr("server"), 8080))
        assert_type(s.send(b"hello"), int)
        assert_type(s.recv(), bytes)
        assert_type(s.tcp_state(), str | None)
        assert_type(lab.listener().accept(), Sock)
        lab.no_such_block()  # type: ignore[attr-defined]
        assert_type(lab.finish(), Run)
