"""Per-row results of a run: stored in bulk from Arrow, read back as typed rows or Arrow.

The input of :func:`insert_results` is an Arrow table (or record batch reader) with these columns:

==============  ==================  =====================================================
column          type                meaning
==============  ==================  =====================================================
primary_key     any (stored text)   the model row's primary key (required)
success         bool                Salesforce accepted the row (required)
operation       string              what was done: ``created``, ``updated``, ``insert``… (optional:
                                    the ``operation`` argument fills it)
record_id       string              the Salesforce id created/updated (optional)
error_code      string              e.g. ``REQUIRED_FIELD_MISSING`` (optional)
message         string              Salesforce's message (optional)
fields          list<string>|string fields named by the error (optional; text is comma separated)
==============  ==================  =====================================================

Rows go in with ``executemany`` over column lists, one batch of ``batch_rows`` at a time, all inside one
transaction: a call is atomic (crash recovery can simply redo it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from sfsync.errors import StateError
from sfsync.state.records import RowResult

RESULT_COLUMNS = ("primary_key", "success", "operation", "record_id", "error_code", "message", "fields")
_REQUIRED = ("primary_key", "success")


def _insert_sql(run_id: int, sync: str) -> str:
    # run and sync are the same for every row: literals, so each row binds 7 values instead of 9 (faster)
    literal = "'" + sync.replace("'", "''") + "'"
    return (
        "INSERT INTO row_results (run_id, sync, primary_key, operation, success, record_id, error_code,"
        f" message, fields) VALUES ({int(run_id)}, {literal}, ?, ?, ?, ?, ?, ?, ?)"
    )


def _batches(data: pa.Table | pa.RecordBatchReader, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if isinstance(data, pa.Table):
        yield from data.to_batches(max_chunksize=batch_rows)
    else:
        for batch in data:
            for start in range(0, batch.num_rows, batch_rows):
                yield batch.slice(start, batch_rows)


def _text(batch: pa.RecordBatch, name: str) -> list[str | None] | None:
    if name not in batch.schema.names:
        return None
    col = batch.column(name)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        col = pc.binary_join(col, ",")
    elif not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    return col.to_pylist()


def insert_results(
    conn: sqlite3.Connection,
    run_id: int,
    sync: str,
    data: pa.Table | pa.RecordBatchReader,
    *,
    operation: str | None,
    batch_rows: int,
) -> int:
    """Insert result rows (caller holds the write transaction); return how many were stored."""
    missing = [c for c in _REQUIRED if c not in data.schema.names]
    if missing or ("operation" not in data.schema.names and operation is None):
        need = missing + ([] if "operation" in data.schema.names or operation else ["operation"])
        raise StateError(
            f"row results for run {run_id} lack column(s) {', '.join(need)}; "
            f"got {', '.join(data.schema.names)}",
            hint=f"pass a table with columns {', '.join(RESULT_COLUMNS)} (operation may be an argument)",
        )
    total = 0
    sql = _insert_sql(run_id, sync)
    for batch in _batches(data, batch_rows):
        n = batch.num_rows
        if n == 0:
            continue
        keys = _text(batch, "primary_key")
        assert keys is not None
        if any(k is None for k in keys):
            raise StateError(f"row results for run {run_id} contain a null primary_key")
        success = pc.fill_null(pc.cast(batch.column("success"), pa.bool_()), False).to_pylist()
        ops = _text(batch, "operation") or [operation] * n
        rids = _text(batch, "record_id") or [None] * n
        codes = _text(batch, "error_code") or [None] * n
        msgs = _text(batch, "message") or [None] * n
        fields = _text(batch, "fields") or [None] * n
        conn.executemany(sql, zip(keys, ops, success, rids, codes, msgs, fields, strict=True))
        total += n
    return total


def _row(run_id: int, values: tuple[object, ...]) -> RowResult:
    sync, pk, op, success, rid, code, msg, fields = values
    return RowResult(
        run_id=run_id,
        sync=str(sync),
        primary_key=str(pk),
        operation=str(op),
        success=bool(success),
        record_id=rid if isinstance(rid, str) else None,
        error_code=code if isinstance(code, str) else None,
        message=msg if isinstance(msg, str) else None,
        fields=tuple(str(fields).split(",")) if fields else (),
    )


def select_results(
    conn: sqlite3.Connection,
    run_id: int,
    *,
    success: bool | None,
    code: str | None,
    limit: int | None,
    offset: int,
) -> list[RowResult]:
    sql = (
        "SELECT sync, primary_key, operation, success, record_id, error_code, message, fields"
        " FROM row_results WHERE run_id = ?"
    )
    args: list[object] = [run_id]
    if success is not None:
        sql += " AND success = ?"
        args.append(int(success))
    if code is not None:
        sql += " AND error_code = ?"
        args.append(code)
    sql += " ORDER BY rowid LIMIT ? OFFSET ?"
    args += [-1 if limit is None else limit, offset]
    return [_row(run_id, tuple(r)) for r in conn.execute(sql, args)]


def results_arrow(
    conn: sqlite3.Connection, run_id: int, *, success: bool | None, code: str | None
) -> pa.Table:
    """Results of a run as an Arrow table (for CSV/JSON export of rejected rows)."""
    rows = select_results(conn, run_id, success=success, code=code, limit=None, offset=0)
    return pa.table(
        {
            "primary_key": pa.array([r.primary_key for r in rows], pa.string()),
            "operation": pa.array([r.operation for r in rows], pa.string()),
            "success": pa.array([r.success for r in rows], pa.bool_()),
            "record_id": pa.array([r.record_id for r in rows], pa.string()),
            "error_code": pa.array([r.error_code for r in rows], pa.string()),
            "message": pa.array([r.message for r in rows], pa.string()),
            "fields": pa.array([list(r.fields) for r in rows], pa.list_(pa.string())),
        }
    )


def count_by_code(conn: sqlite3.Connection, run_id: int) -> dict[str, int]:
    """Rejected rows of a run per error code (``UNKNOWN`` when Salesforce gave none)."""
    cur = conn.execute(
        "SELECT coalesce(error_code, 'UNKNOWN'), count(*) FROM row_results"
        " WHERE run_id = ? AND success = 0 GROUP BY 1 ORDER BY 2 DESC, 1",
        (run_id,),
    )
    return {str(code): int(n) for code, n in cur}


__all__ = ["RESULT_COLUMNS", "count_by_code", "insert_results", "results_arrow", "select_results"]
