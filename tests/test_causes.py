"""The Python taxonomy and the cause table in the docs against the Rust cause registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from rstlab import _rstlab
from rstlab.causes import Cause, CauseInfo, describe, markdown, registry

DOCS = Path(__file__).resolve().parent.parent / "docs" / "causes.md"


def test_cause_enum_is_the_registry_in_order() -> None:
    ids = [c.id for c in registry()]
    assert [c.value for c in Cause] == ids
    assert [c.name for c in Cause] == [i.upper() for i in ids]


def test_registry_rows_are_whole() -> None:
    rows = registry()
    assert len(rows) == len(_rstlab.causes()) == len(Cause)
    for c in rows:
        assert isinstance(c, CauseInfo)
        assert c.description and c.family
        assert all(r.isupper() and not r.startswith("SK_RST_REASON_") for r in c.kernel_reasons), c
        assert len(set(c.scenarios)) == len(c.scenarios), c
    by_id = {c.id: c for c in rows}
    # From the kernel's own code paths: no socket answering a SYN (tcp_v4_send_reset) refuses,
    # and tcp_keepalive_timer resets with TCP_KEEPALIVE_TIMEOUT.
    assert "NO_SOCKET" in by_id["refused"].kernel_reasons
    assert by_id["keepalive_timeout"].kernel_reasons == ("TCP_KEEPALIVE_TIMEOUT",)
    assert "s1_closed_port" in by_id["refused"].scenarios
    assert by_id["unknown"].kernel_reasons == () and by_id["unknown"].scenarios == ()


def test_describe_reads_the_registry() -> None:
    assert describe(Cause.REFUSED) == registry()[0].description
    assert describe("unknown") == "evidence insufficient"
    with pytest.raises(ValueError):
        describe("no_such_cause")


def test_docs_cause_table_is_what_the_registry_generates() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert text == markdown(), (
        "docs/causes.md is stale: python -c \"import rstlab.causes as c; print(c.markdown(), end='')\" > docs/causes.md")
    rows = [line for line in text.splitlines() if line.startswith("| [`")]
    assert [r.split("`")[1] for r in rows] == [c.value for c in Cause]
