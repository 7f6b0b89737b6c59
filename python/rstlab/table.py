"""Arrow-backed tables: the bulk results of rstlab (connections, segments, resets)."""

from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, cast

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa
    from typing_extensions import TypeVar

    #: The type of one row (a ``TypedDict`` of :mod:`rstlab.rows`, e.g. ``Table[ResetRow]``); a
    #: bare ``Table`` is a ``Table[dict[str, Any]]``.
    Row = TypeVar("Row", bound=Mapping[str, Any], default=dict[str, Any])
else:
    from typing import TypeVar

    # TypeVar defaults (PEP 696) are new in Python 3.13; at run time the bound is all there is.
    Row = TypeVar("Row", bound=Mapping[str, Any])

__all__ = ["Table", "columns", "columns_markdown", "time_ns", "rfc3339", "plain", "evidence_text", "readable"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def time_ns(v: object) -> int:
    """Nanoseconds since the Unix epoch of a time as rows hold it: a ``pandas.Timestamp``
    (exact), a ``datetime`` (aware, or naive meaning UTC; to the microsecond), or a number of
    seconds (a lab event's ``ts``)."""
    value = getattr(v, "value", None)
    if isinstance(v, _dt.datetime) and isinstance(value, int):  # pandas.Timestamp: ns exact
        return value
    if isinstance(v, _dt.datetime):
        d = v if v.tzinfo is not None else v.replace(tzinfo=_dt.timezone.utc)
        return (d - _EPOCH) // _dt.timedelta(microseconds=1) * 1000
    if isinstance(v, (int, float)):
        return round(v * 1_000_000_000)
    raise TypeError(f"not a time: {v!r}")


def rfc3339(ns: int) -> str:
    """A time as RFC 3339 text in UTC with all nine fractional digits
    (``2026-12-05T21:09:58.123456789Z``): what JSON, JSON Lines and CSV output hold."""
    secs, frac = divmod(ns, 1_000_000_000)
    return (_EPOCH + _dt.timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def evidence_text(data: Any) -> Any:
    """The evidence text (``name: value; name: value``) of resets.

    The resets table keeps each RST's evidence as ``evidence_template`` (the text with ``{}``
    where each value goes, in ``str.format`` syntax) and ``evidence_values``: a port scan's
    million RSTs share a handful of templates. Given a row (a mapping) this returns its text;
    given a ``pyarrow.Table`` or ``RecordBatch``, a ``pyarrow`` string array, one text per row.
    """
    if isinstance(data, Mapping):
        return str(data["evidence_template"]).format(*data["evidence_values"])
    import pyarrow as pa

    templates = data.column("evidence_template")
    values = data.column("evidence_values")
    if isinstance(templates, pa.ChunkedArray):
        templates = templates.combine_chunks()
        values = values.combine_chunks()
    # One format string per distinct template, applied to each row's values.
    if pa.types.is_dictionary(templates.type):
        formats = [str(t).format for t in templates.dictionary.to_pylist()]
        keys = templates.indices.to_pylist()
        return pa.array([formats[k](*v) for k, v in zip(keys, values.to_pylist())], pa.string())
    return pa.array([str(t).format(*v) for t, v in zip(templates.to_pylist(), values.to_pylist())], pa.string())


def readable(tbl: pa.Table) -> pa.Table:
    """``tbl`` with its evidence rendered: a resets table's ``evidence_template`` and
    ``evidence_values`` replaced by the ``evidence`` text (:func:`evidence_text`), where they
    stood. Any other table as it is."""
    names = tbl.column_names
    if "evidence_template" not in names or "evidence_values" not in names:
        return tbl
    at = names.index("evidence_template")
    out = tbl.drop_columns(["evidence_template", "evidence_values"])
    import pyarrow as pa

    return out.add_column(at, pa.field("evidence", pa.string(), nullable=False), evidence_text(tbl))


def plain(tbl: pa.Table) -> pa.Table:
    """``tbl`` with its time columns in the text output's form, nothing lost: every
    ``timestamp[ns]`` as RFC 3339 text (:func:`rfc3339`'s), every ``duration[ns]`` as integer
    nanoseconds, and its evidence rendered (:func:`readable`). Other columns as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tbl = readable(tbl)
    cols = []
    for name, col in zip(tbl.column_names, tbl.columns):
        if pa.types.is_timestamp(col.type):
            utc = col.cast(pa.timestamp("ns", tz="UTC"))
            col = pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")
        elif pa.types.is_duration(col.type):
            col = col.cast(pa.duration("ns")).cast(pa.int64())
        cols.append(col)
    out: pa.Table = pa.table(cols, names=tbl.column_names)
    return out


class Table(Generic[Row]):
    """A read-only table backed by Arrow memory that Rust filled.

    ``to_arrow()`` / ``to_pandas()`` / ``to_polars()`` convert it (pandas and polars are imported
    only when asked for); ``len(t)``, ``t.columns``, ``t["col"]`` and iteration over row dicts
    work without either. ``Row`` is the type of one row to a type checker (``Trace.resets`` is a
    ``Table[ResetRow]``); at run time rows are plain dicts.

    A RST's evidence is kept compact — ``evidence_template`` and ``evidence_values`` — in the
    Arrow forms (``to_arrow()``, ``to_polars()``, Parquet); rows, ``t["evidence"]``,
    ``to_pandas()`` and the text outputs show it rendered as ``evidence``
    (:func:`evidence_text`).
    """

    __slots__ = ("_native", "_arrow", "_name")

    def __init__(self, native: object, name: str = "table") -> None:
        self._native = native
        self._arrow: pa.Table | None = None
        self._name = name

    @classmethod
    def from_arrow(cls, table: pa.Table, name: str = "table") -> Table[Row]:
        """A table over an existing ``pyarrow.Table`` (no copy)."""
        t = cls(None, name)
        t._arrow = table
        return t

    def to_arrow(self) -> pa.Table:
        """The ``pyarrow.Table`` (imported from Rust without a copy on first use)."""
        if self._arrow is None:
            # pyarrow (and numpy with it) is imported on first use, not with rstlab: reading a
            # capture and the command line never wait for it.
            import pyarrow as pa

            # Zero-copy import through the Arrow PyCapsule stream interface.
            self._arrow = pa.table(self._native)
            self._native = None
        return self._arrow

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    def to_pandas(self, zero_copy: bool = True) -> pd.DataFrame:
        """A ``pandas.DataFrame`` (needs pandas).

        By default its columns are pyarrow-backed (``pd.ArrowDtype``): they share the Arrow
        memory Rust filled, so the frame costs next to nothing on top of the table. With
        ``zero_copy=False`` the columns are converted to NumPy dtypes (a copy).
        """
        if zero_copy:
            import pandas as pd
            import pyarrow as pa

            # Dictionary columns (states, causes) become ordinary categoricals: pandas supports
            # those everywhere, and they are small; times become datetime64[ns, UTC] and
            # timedelta64[ns] (the same 64-bit nanoseconds, which every pandas time function
            # takes); everything else stays in Arrow memory.
            def mapper(t: pa.DataType) -> Any:
                native = pa.types.is_dictionary(t) or pa.types.is_timestamp(t) or pa.types.is_duration(t)
                return None if native else pd.ArrowDtype(t)

            frame: pd.DataFrame = readable(self.to_arrow()).to_pandas(types_mapper=mapper)
            return frame
        plain: pd.DataFrame = readable(self.to_arrow()).to_pandas()
        return plain

    def to_polars(self) -> pl.DataFrame:
        """A ``polars.DataFrame`` (needs polars)."""
        import polars as pl

        # A Table always converts to a DataFrame (pl.from_arrow gives a Series only for an Arrow
        # array or chunked array).
        return cast("pl.DataFrame", pl.from_arrow(self.to_arrow()))

    def to_pylist(self) -> list[Row]:
        """Every row as a dict (column name → Python value; ``None`` for a null). Times are
        ``pandas.Timestamp`` / ``pandas.Timedelta`` (``datetime`` / ``timedelta`` subclasses, to
        the nanosecond) when pandas is installed, else ``datetime`` / ``timedelta`` cut to the
        microsecond (:func:`time_ns` reads either)."""
        rows: list[Row] = _micro_without_pandas(readable(self.to_arrow())).to_pylist()
        return rows

    @property
    def columns(self) -> list[str]:
        """The keys of a row, in order (a resets row shows ``evidence`` where the Arrow table
        has ``evidence_template`` and ``evidence_values``)."""
        names = list(self.to_arrow().column_names)
        if "evidence_template" in names and "evidence_values" in names:
            names[names.index("evidence_template")] = "evidence"
            names.remove("evidence_values")
        return names

    def __len__(self) -> int:
        return int(self.to_arrow().num_rows)

    def __getitem__(self, column: str) -> list[Any]:
        tbl = self.to_arrow()
        if column == "evidence" and column not in tbl.column_names:
            texts: list[Any] = evidence_text(tbl).to_pylist()
            return texts
        values: list[Any] = _micro_without_pandas(tbl.select([column])).column(0).to_pylist()
        return values

    def __iter__(self) -> Iterator[Row]:
        return iter(self.to_pylist())

    def filter(self, **equal: object) -> Table[Row]:
        """Rows whose columns equal the given values: ``t.filter(conn_id=3)``."""
        import pyarrow as pa
        import pyarrow.compute as pc

        tbl = self.to_arrow()
        mask = None
        for col, val in equal.items():
            m = pc.equal(tbl.column(col), pa.scalar(val, type=tbl.schema.field(col).type))
            mask = m if mask is None else pc.and_(mask, m)
        return type(self).from_arrow(tbl if mask is None else tbl.filter(mask), self._name)

    def __repr__(self) -> str:
        tbl = self.to_arrow()
        return f"<rstlab {self._name}: {tbl.num_rows} rows × {tbl.num_columns} columns: {', '.join(tbl.column_names[:8])}{', …' if tbl.num_columns > 8 else ''}>"

    def _repr_html_(self, max_rows: int = 20) -> str:
        tbl = self.to_arrow()
        body = []
        shown = readable(tbl.slice(0, max_rows))
        head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.column_names)
        for row in _micro_without_pandas(shown).to_pylist():
            body.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>")
        more = f"<p>… {tbl.num_rows - max_rows} more rows</p>" if tbl.num_rows > max_rows else ""
        return (f"<p><b>rstlab {html.escape(self._name)}</b>: {tbl.num_rows} rows</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}")


def _micro_without_pandas(tbl: pa.Table) -> pa.Table:
    """``tbl`` as is when pandas is installed (pyarrow gives nanosecond times as pandas
    objects); without it, its nanosecond times cut to microseconds, which ``datetime`` holds
    (pyarrow refuses to convert a value with nanoseconds to one)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        import pyarrow as pa

        fields = [pa.field(f.name, pa.timestamp("us", tz=f.type.tz) if pa.types.is_timestamp(f.type)
                           else pa.duration("us") if pa.types.is_duration(f.type) else f.type, f.nullable)
                  for f in tbl.schema]
        cut: pa.Table = tbl.cast(pa.schema(fields), safe=False)
        return cut
    return tbl


def columns() -> list[tuple[str, str, str, str]]:
    """Every column of every table: ``(table, column, Arrow type, doc)``, in each table's column
    order, from the Rust declarations that also build the tables."""
    from . import _rstlab

    return _rstlab.columns()


def columns_markdown() -> str:
    """The column reference, ``docs/columns.md``: one Markdown table per result table."""
    lines = ["# Table columns", "",
             "Every column of the tables rstlab returns (`Trace.connections`, `Trace.segments`,",
             "`Trace.zeek_conns`, `Trace.resets`). Generated by `rstlab.table.columns_markdown()`",
             "from the declarations that build the tables; a test checks this file against it."]
    table = None
    for t, name, typ, doc in columns():
        if t != table:
            table = t
            lines += ["", f"## {t}", "", "| column | type | meaning |", "|---|---|---|"]
        lines.append(f"| `{name}` | `{typ}` | {doc.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"
