"""Turn rows to send (Arrow) into what Salesforce reads: Bulk API 2.0 CSV or REST JSON records.

Every mapped column comes with a boolean *send* column (``send_column(col)``) saying whether that field
is written for that row. The encoders follow docs/syncing.md's rule "only what changed is written":

======================  ================  ====================
cell                    Bulk CSV          REST JSON
======================  ================  ====================
not sent                empty cell        key omitted
sent, value is null     ``#N/A``          ``null``
sent, value             formatted text    JSON value
======================  ================  ====================

A *lookup* (a parent named through its indexed field, ``Account.External_Id__c``) is written in the form
each API documents for relationship fields, and cleared through the reference field itself:

======================  ==================================  ==========================================
cell                    Bulk CSV                            REST JSON
======================  ==================================  ==========================================
sent, value             ``Account.External_Id__c`` column   ``"Account": {"External_Id__c": "C-1"}``
                        (``User:Owner.Username`` when the   (``"attributes": {"type": "User"}`` added
                        relationship is polymorphic)        when polymorphic)
sent, value is null     ``#N/A`` in an ``AccountId``        ``"AccountId": null``
                        column, present only when some
                        row clears the reference
======================  ==================================  ==========================================

Sources: developer.salesforce.com/docs/platform/api-asynch/guide/relationship-fields-in-a-header-row-2-0.html
(header notation), …/api_asynch/datafiles_xml_rel_fields.htm (JSON form), and "Valid CSV Record Rows"
(``#N/A`` sets a field to null): a field's null is written to the field, as neither page says that a
relationship column takes ``#N/A``.

An empty string from the warehouse counts as null (Salesforce stores no empty strings). Formatting is
vectorised with pyarrow.compute and the CSV is written by Arrow's C++ writer: no per-row Python on the
Bulk path.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SEND_PREFIX = "__send__"
BULK_NULL = "#N/A"


def send_column(column: str) -> str:
    """Name of the boolean column telling whether ``column``'s field is written for a row."""
    return SEND_PREFIX + column


@dataclass(frozen=True)
class Lookup:
    """How a column names a parent record: through ``relationship`` and the parent's ``parent_field``."""

    relationship: str  # Account, ReportsTo, Parent_Account__r, Owner
    parent_field: str  # External_Id__c, Email, Username
    reference_field: str  # AccountId: what a cleared lookup sets to null
    parent_object: str  # Account
    polymorphic: bool = False  # the relationship refers to several objects: name ``parent_object``

    @property
    def header(self) -> str:
        """The Bulk CSV column: ``Account.External_Id__c``, or ``User:Owner.Username`` when polymorphic."""
        prefix = f"{self.parent_object}:" if self.polymorphic else ""
        return f"{prefix}{self.relationship}.{self.parent_field}"

    def to_json(self) -> dict[str, Any]:
        return {
            "relationship": self.relationship,
            "parent_field": self.parent_field,
            "reference_field": self.reference_field,
            "parent_object": self.parent_object,
            "polymorphic": self.polymorphic,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Lookup:
        return cls(**data)


@dataclass(frozen=True)
class FieldMap:
    """One model column written to one Salesforce field, or to a reference through a ``lookup``.

    ``field`` is the name on the wire: the field's API name, or the lookup's Bulk header. ``clears`` (set
    by the planner) says some row clears the lookup, so Bulk CSV carries the reference field's column."""

    column: str
    field: str
    lookup: Lookup | None = None
    clears: bool = False


def format_text(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Render an Arrow column as the text Salesforce expects in CSV (nulls stay null).

    Booleans ``true``/``false``; dates ``yyyy-MM-dd``; datetimes in UTC ``yyyy-MM-ddTHH:mm:ss.SSSZ`` (naive
    timestamps are taken as UTC); times ``HH:mm:ss.SSSZ``; numbers in their shortest exact form.
    """
    t = values.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        out = values
    elif pa.types.is_timestamp(t):
        utc = pc.cast(values, pa.timestamp("ms", tz="UTC" if t.tz else None), safe=False)
        out = pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")
    elif pa.types.is_date(t):
        out = pc.strftime(pc.cast(values, pa.date32()), format="%Y-%m-%d")
    elif pa.types.is_time(t):
        ms = pc.cast(values, pa.time32("ms"), safe=False)
        out = pc.binary_join_element_wise(pc.cast(ms, pa.string()), "Z", "")
    elif pa.types.is_dictionary(t):
        out = format_text(pc.cast(values, t.value_type))
    else:
        out = pc.cast(values, pa.string())
    if pa.types.is_large_string(out.type):
        out = pc.cast(out, pa.string())
    return out


def _cell_column(table: pa.Table, fm: FieldMap) -> pa.ChunkedArray:
    """The CSV cells of one field: null (empty cell) when not sent, ``#N/A`` when cleared, else text."""
    text = format_text(table.column(fm.column))
    blank = pc.or_kleene(pc.is_null(text), pc.equal(text, ""))
    value_or_null = pc.if_else(pc.fill_null(blank, True), BULK_NULL, text)
    send = pc.fill_null(table.column(send_column(fm.column)), False)
    return pc.if_else(send, value_or_null, pa.scalar(None, pa.string()))


def _lookup_cells(table: pa.Table, fm: FieldMap) -> list[pa.ChunkedArray]:
    """The relationship column of a lookup (text when sent with a value) and, when the lookup ``clears``,
    the reference field's column (``#N/A`` when sent with null)."""
    text = format_text(table.column(fm.column))
    blank = pc.fill_null(pc.or_kleene(pc.is_null(text), pc.equal(text, "")), True)
    send = pc.fill_null(table.column(send_column(fm.column)), False)
    none = pa.scalar(None, pa.string())
    cells = [pc.if_else(pc.and_(send, pc.invert(blank)), text, none)]
    if fm.clears:
        cells.append(pc.if_else(pc.and_(send, blank), BULK_NULL, none))
    return cells


def csv_header(fields: Sequence[str]) -> bytes:
    return (",".join(fields) + "\n").encode()


def encode_csv_rows(table: pa.Table, maps: Sequence[FieldMap], key: FieldMap | None = None) -> bytes:
    """CSV body rows (no header) for ``table``; ``key`` is always written as-is (Id or external id)."""
    if table.num_rows == 0:
        return b""
    out = io.BytesIO()
    pacsv.write_csv(
        cell_table(table, maps, key),
        out,
        pacsv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    return out.getvalue()


def csv_fields(maps: Sequence[FieldMap], key: FieldMap | None = None) -> list[str]:
    out = [key.field] if key is not None else []
    for fm in maps:
        out.append(fm.field)
        if fm.lookup is not None and fm.clears:
            out.append(fm.lookup.reference_field)
    return out


def cell_table(table: pa.Table, maps: Sequence[FieldMap], key: FieldMap | None = None) -> pa.Table:
    """The cells :func:`encode_csv_rows` would write, as a table named by field (null = not sent)."""
    columns: list[pa.ChunkedArray] = []
    names: list[str] = []
    if key is not None:
        columns.append(format_text(table.column(key.column)))
        names.append(key.field)
    for fm in maps:
        if fm.lookup is not None:
            cells = _lookup_cells(table, fm)
            columns.extend(cells)
            names.extend([fm.field, fm.lookup.reference_field][: len(cells)])
            continue
        columns.append(_cell_column(table, fm))
        names.append(fm.field)
    return pa.table(columns, names=names)


#: Share of a CSV document's room filled by the rows estimated to fit (rows differ in size; a batch that
#: still does not fit is halved until it does).
FILL = 0.97


def chunk_csv(
    batches: Iterator[pa.RecordBatch] | Sequence[pa.RecordBatch],
    maps: Sequence[FieldMap],
    key: FieldMap | None,
    max_bytes: int,
    *,
    first_bytes: int | None = None,
) -> Iterator[tuple[bytes, list[pa.RecordBatch]]]:
    """Group rows into CSV documents of at most ``max_bytes`` each (header included); the first one at
    most ``first_bytes`` if given (a row that does not fit it still gets ``max_bytes``).

    Yields ``(csv_bytes, source_batches)``: the CSV and the rows it holds, so results can be mapped back.
    A single row larger than ``max_bytes`` raises ValueError naming the limit.
    """
    header = csv_header(csv_fields(maps, key))
    parts: list[bytes] = []
    rows: list[pa.RecordBatch] = []
    size = len(header)
    limit = min(first_bytes, max_bytes) if first_bytes else max_bytes
    per_row = 0.0  # CSV bytes per row so far: a batch is cut to the room left before it is encoded
    for batch in batches:
        pending = [batch]
        while pending:
            b = pending.pop()
            if b.num_rows == 0:
                continue
            room = int((limit - size) / per_row * FILL) if per_row else b.num_rows
            if room < 1 and parts:  # this document is full
                yield header + b"".join(parts), rows
                parts, rows, size, limit = [], [], len(header), max_bytes
                pending.append(b)
                continue
            if 1 <= room < b.num_rows:  # the rest is processed last
                pending.extend([b.slice(room), b.slice(0, room)])
                continue
            body = encode_csv_rows(pa.Table.from_batches([b]), maps, key)
            per_row = len(body) / b.num_rows
            if size + len(body) <= limit:
                parts.append(body)
                rows.append(b)
                size += len(body)
                continue
            if b.num_rows > 1:  # split and retry the halves (second half is processed last)
                half = b.num_rows // 2
                pending.extend([b.slice(half), b.slice(0, half)])
                continue
            if parts:
                yield header + b"".join(parts), rows
                parts, rows, size, limit = [], [], len(header), max_bytes
                pending.append(b)
                continue
            if limit < max_bytes:  # one row bigger than the first document's size: it gets the full size
                limit = max_bytes
                pending.append(b)
                continue
            raise ValueError(
                f"one row needs {len(body)} bytes of CSV, more than the {max_bytes}-byte job limit"
            )
    if parts:
        yield header + b"".join(parts), rows


def _json_values(values: pa.ChunkedArray | pa.Array) -> list[Any]:
    t = values.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        return list(format_text(values).to_pylist())
    if pa.types.is_decimal(t):
        return list(values.to_pylist())  # Decimals: the REST encoder writes them digit for digit
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return [None if v == "" else v for v in values.to_pylist()]
    return list(values.to_pylist())


def encode_json_records(
    table: pa.Table, maps: Sequence[FieldMap], key: FieldMap | None = None
) -> list[dict[str, Any]]:
    """REST records for ``table``: unsent fields omitted, cleared fields ``None``. Small batches only."""
    records: list[dict[str, Any]] = [{} for _ in range(table.num_rows)]
    if key is not None:
        for rec, v in zip(records, _json_values(table.column(key.column)), strict=True):
            rec[key.field] = v
    for fm in maps:
        values = _json_values(table.column(fm.column))
        sends = pc.fill_null(table.column(send_column(fm.column)), False).to_pylist()
        lk = fm.lookup
        if lk is None:
            for rec, send, v in zip(records, sends, values, strict=True):
                if send:
                    rec[fm.field] = v
            continue
        attrs = {"attributes": {"type": lk.parent_object}} if lk.polymorphic else {}
        for rec, send, v in zip(records, sends, values, strict=True):
            if not send:
                continue
            if v is None:
                rec[lk.reference_field] = None
            else:
                rec[lk.relationship] = {**attrs, lk.parent_field: v}
    return records
