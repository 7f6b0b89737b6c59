"""The column reference: declared once in Rust, true of the tables, and written to docs/columns.md."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import rstlab
from rstlab.table import columns, columns_markdown

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "tests" / "fixtures" / "lab"
TABLES = ("connections", "segments", "zeek_conns", "resets")


def test_docs_columns_md_is_the_generated_reference():
    committed = (REPO / "docs" / "columns.md").read_text()
    assert committed == columns_markdown(), "regenerate: python -c 'import rstlab.table as t; print(t.columns_markdown(), end=\"\")' > docs/columns.md"


@pytest.mark.parametrize("capture", ["client_reboot_reconnect-v4.pcapng", "s11_linger_zero-v6.pcapng"])
def test_reference_lists_each_tables_columns_with_pyarrows_types(capture):
    t = rstlab.read(LAB / capture)
    ref = columns()
    assert [name for name in dict.fromkeys(c[0] for c in ref)] == list(TABLES)
    for table in TABLES:
        schema = getattr(t, table).to_arrow().schema
        assert [(c[1], c[2]) for c in ref if c[0] == table] == [(f.name, str(f.type)) for f in schema], table
    assert all(doc and "\n" not in doc for _, _, _, doc in ref)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize("capture", sorted(p.name for p in LAB.glob("*.pcapng")))
def test_zeek_table_is_arrows_merge_of_whole_streams_and_split_parts(capture):
    # Independently of the Rust merge: the streams Zeek keeps whole (connections rows with
    # zeek_conns == 1) plus the parts of the split ones, concatenated and stably sorted by
    # pyarrow, give the same table to the byte (schema and dictionaries included).
    t = rstlab.read(LAB / capture, errors="keep")
    conns = t.connections.to_arrow()
    zeek = t.zeek_conns.to_arrow()
    cols = zeek.column_names
    whole = conns.filter(pc.equal(conns.column("zeek_conns"), 1)).select(cols)
    parts = zeek.filter(pc.is_in(zeek.column("conn_id"), conns.filter(pc.not_equal(conns.column("zeek_conns"), 1)).column("conn_id")))
    merged = pa.concat_tables([whole, parts]).sort_by([("conn_id", "ascending")])
    assert _ipc(merged) == _ipc(zeek)
    if whole.num_rows:
        # Categories as in the connections table, Zeek's extra states after them.
        lead = conns.column("conn_state").chunk(0).dictionary.to_pylist()
        assert zeek.column("conn_state").chunk(0).dictionary.to_pylist()[:len(lead)] == lead
