"""Bulk API 2.0 rows: header checks, per-column converters compiled once, chunked set-based writes.

A cell ``""`` leaves the field unchanged (omitted), ``#N/A`` sets it to null. The job's rows are
processed in chunks of ``BULK_CHUNK_ROWS``; each chunk is planned with one SQL query per rule and written
with ``executemany`` in its own transaction, so other requests interleave between chunks.
"""

from __future__ import annotations

import gc
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sfsync.emulator.metadata import ids
from sfsync.emulator.metadata.model import FieldDef
from sfsync.emulator.records.pending import Pending, Ref, fold
from sfsync.emulator.records.relations import bulk_ref_column, invalid_batch
from sfsync.emulator.records.results import BulkRowResult, OrgError, RecordError
from sfsync.emulator.records.store import Store, Table
from sfsync.emulator.records.validate import FieldValueError
from sfsync.emulator.records.write_rules import WriteRules
from sfsync.emulator.records.writes import Writer

if TYPE_CHECKING:
    from sfsync.emulator.records.automation import OrgAutomation
    from sfsync.emulator.records.org import Org

#: Rows planned and written per transaction (Salesforce's own internal batch size is 10,000).
BULK_CHUNK_ROWS = 10_000
#: The cell that sets a field to null.
NULL_CELL = "#N/A"
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
#: Pause Python's cyclic garbage collector while a Bulk call runs: a chunk allocates tens of thousands of
#: short-lived acyclic objects, which otherwise trigger full collections over everything alive.
PAUSE_GC_DURING_BULK = True

_gc_lock = threading.Lock()
_gc_depth = 0


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Disable the cyclic GC while any thread is inside a Bulk call; restore it when the last one leaves."""
    global _gc_depth
    if not PAUSE_GC_DURING_BULK:
        yield
        return
    with _gc_lock:
        if _gc_depth == 0:
            was_enabled = gc.isenabled()
            gc.disable()
            _gc_state["enabled"] = was_enabled
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_state["enabled"]:
                gc.enable()


_gc_state = {"enabled": True}


class _Columns:
    """The compiled header: which cell feeds which field, and how it converts."""

    def __init__(self) -> None:
        self.plain: list[tuple[int, str, Callable[[str], Any], int | None]] = []
        self.refs: list[tuple[int, FieldDef, Table, FieldDef, Callable[[str], Any]]] = []
        self.id_idx: int | None = None
        self.width = 0


def _take_id(p: Pending, cell: str, table: Table, op: str, wants_id: bool) -> None:
    """Set the row's record id from its Id cell, or its error (an Id where the operation takes none, an id
    of another object, no Id for an update)."""
    if cell and cell != NULL_CELL:
        if not wants_id:
            p.error = RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE", f"cannot specify Id in an {op} call", ["Id"]
            )
            return
        norm = ids.normalize(cell)
        if norm is None or norm[:3] != table.obj.key_prefix:
            p.error = RecordError(
                "MALFORMED_ID", f"{table.name} ID: id value of incorrect type: {cell}", ["Id"]
            )
            return
        p.id = norm
    elif op == "update":
        p.error = RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])


class BulkLoader:
    def __init__(self, store: Store, writer: Writer, automation: OrgAutomation) -> None:
        self.store = store
        self.writer = writer
        self.automation = automation

    def load(
        self,
        table: Table,
        operation: str,
        ext_field: str | None,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        user: str | None,
        org: Org,
        rules: WriteRules | None = None,
    ) -> list[BulkRowResult]:
        with _gc_paused():
            return self._load(table, operation, ext_field, header, rows, user, org, rules)

    def _load(
        self,
        table: Table,
        operation: str,
        ext_field: str | None,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        user: str | None,
        org: Org,
        rules: WriteRules | None,
    ) -> list[BulkRowResult]:
        if operation not in OPERATIONS:
            raise invalid_batch(f"Unsupported operation: {operation}")
        cols = self._compile(table, operation, header)
        if operation in ("delete", "hardDelete"):
            return self._delete(table, operation == "hardDelete", cols, rows, org)
        ext: FieldDef | None = None
        dup_keys: set[Any] = set()
        if operation == "update" and cols.id_idx is None:
            raise invalid_batch("Id field is required for update: add an Id column to the CSV header")
        if operation == "upsert":
            ext, dup_keys = self._upsert_key(table, ext_field, cols, rows, org)
        results: list[BulkRowResult] = []
        for start in range(0, len(rows), BULK_CHUNK_ROWS):
            chunk = rows[start : start + BULK_CHUNK_ROWS]
            items = self._convert(table, operation, ext, cols, chunk)
            with self.store.lock, self.store.transaction():
                plan = self.writer.plan(table, operation, ext, items, user, dup_keys)
                self.writer.apply(self.automation.run(plan, rules), user)
            for p in items:
                if p.error is None:
                    results.append(BulkRowResult(p.id, p.created, None))
                else:
                    results.append(BulkRowResult(None, False, p.error))
        return results

    @staticmethod
    def _upsert_key(
        table: Table, ext_field: str | None, cols: _Columns, rows: Sequence[Sequence[str]], org: Org
    ) -> tuple[FieldDef, set[Any]]:
        """The upsert's key field (checked against the header) and the key values repeated in the job."""
        if not ext_field:
            raise invalid_batch("externalIdFieldName is required for upsert")
        try:
            ext = org.ext_field(table, ext_field)
        except OrgError as e:
            raise invalid_batch(e.message) from None
        if ext.name == "Id":
            if cols.id_idx is None:
                raise invalid_batch("Field name not found : Id (the upsert key column is missing)")
            return ext, set()
        key_idx = next((c[0] for c in cols.plain if c[1] == ext.name), None)
        if key_idx is None:
            raise invalid_batch(f"Field name not found : {ext.name} (the upsert key column is missing)")
        return ext, _repeated(rows, key_idx, ext.case_sensitive)

    def _compile(self, table: Table, operation: str, header: Sequence[str]) -> _Columns:
        cols = _Columns()
        cols.width = len(header)
        seen: set[str] = set()
        for idx, raw in enumerate(header):
            name = raw.strip()
            low = name.lower()
            if low in seen:
                raise invalid_batch(f"Duplicate field name : {name}")
            seen.add(low)
            if low == "id":
                cols.id_idx = idx
                continue
            if operation in ("delete", "hardDelete"):
                continue
            ref = bulk_ref_column(self.store, table, name)
            if ref is not None:
                rel, parent, parent_field = ref
                convert = parent.codecs[parent_field.name.lower()].from_text
                cols.refs.append((idx, rel, parent, parent_field, convert))
                continue
            codec = table.codec(name)
            if codec is None or not codec.stored:
                raise invalid_batch(f"Field name not found : {name}")
            cols.plain.append((idx, codec.field.name, codec.from_text, codec.plain_limit))
        if operation in ("delete", "hardDelete") and cols.id_idx is None:
            raise invalid_batch(f"Field name not found : Id ({operation} takes one Id column)")
        return cols

    def _convert(
        self,
        table: Table,
        op: str,
        ext: FieldDef | None,
        cols: _Columns,
        chunk: Sequence[Sequence[str]],
    ) -> list[Pending]:
        plain, refs, id_idx, width = cols.plain, cols.refs, cols.id_idx, cols.width
        wants_id = op == "update" or (ext is not None and ext.name == "Id")
        key_name = ext.name if ext is not None and ext.name != "Id" else None
        items: list[Pending] = []
        append = items.append
        for pos, row in enumerate(chunk):
            values: dict[str, Any] = {}
            p = Pending(pos, values)
            append(p)
            if len(row) != width:
                p.error = RecordError(
                    "INVALID_FIELD", f"Row has {len(row)} cells but the header has {width} columns", []
                )
                continue
            try:
                for ci, name, conv, limit in plain:
                    cell = row[ci]
                    if not cell:
                        continue
                    if cell == NULL_CELL:
                        values[name] = None
                    elif limit is None or (limit and len(cell) > limit):
                        values[name] = conv(cell)  # converts, or raises the field's error
                    else:
                        values[name] = cell
                if refs:
                    p.refs = self._refs(row, refs, values)
            except FieldValueError as e:
                p.error = e.error
                continue
            if id_idx is not None:
                _take_id(p, row[id_idx], table, op, wants_id)
            if key_name is not None:
                p.key = values.get(key_name)
        return items

    @staticmethod
    def _refs(
        row: Sequence[str],
        refs: list[tuple[int, FieldDef, Table, FieldDef, Callable[[str], Any]]],
        values: dict[str, Any],
    ) -> list[Ref] | None:
        out = []
        for ci, rel, parent, ext, conv in refs:
            cell = row[ci]
            if not cell:
                continue
            if cell == NULL_CELL:
                values[rel.name] = None
                continue
            out.append(Ref(rel, parent, ext, conv(cell)))
        return out or None

    def _delete(
        self, table: Table, hard: bool, cols: _Columns, rows: Sequence[Sequence[str]], org: Org
    ) -> list[BulkRowResult]:
        assert cols.id_idx is not None
        idx = cols.id_idx
        results: list[BulkRowResult] = []
        for start in range(0, len(rows), BULK_CHUNK_ROWS):
            items = []
            for pos, row in enumerate(rows[start : start + BULK_CHUNK_ROWS]):
                cell = row[idx] if idx < len(row) else ""
                p = Pending(pos, {}, record_id=cell)
                norm = ids.normalize(cell)
                if norm is None or norm[:3] != table.obj.key_prefix:
                    p.error = RecordError(
                        "MALFORMED_ID", f"{table.name} ID: id value of incorrect type: {cell}", ["Id"]
                    )
                else:
                    p.id = norm
                items.append(p)
            with self.store.lock, self.store.transaction():
                org.delete_rows(table, items, hard)
            results.extend(
                BulkRowResult(p.id, False, None) if p.error is None else BulkRowResult(None, False, p.error)
                for p in items
            )
        return results


def _repeated(rows: Sequence[Sequence[str]], idx: int, case_sensitive: bool) -> set[Any]:
    """Folded upsert keys that appear more than once in the rows of one call."""
    cells = [row[idx] for row in rows if idx < len(row)]
    counts = Counter(cells if case_sensitive else [c.lower() for c in cells])
    counts.pop("", None)
    counts.pop(fold(NULL_CELL, case_sensitive), None)
    return {k for k, n in counts.items() if n > 1}
