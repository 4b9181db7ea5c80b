"""The warehouse diff: the model is compared with the snapshot inside the warehouse; only the rows to
send leave it, into the diff's work directory, as the same :class:`~sfsync.sync.diff.DiffResult` the
local planner writes (``changes.parquet``, ``manifest.json``), so planning and loading do not change.

One diff, in one transaction (REPEATABLE READ on PostgreSQL, so every statement sees the same model):

1. the planner schema, the bookkeeping table and the sync's rejected-keys table exist (created when
   missing); tables of earlier diffs no run is waiting for are dropped; a snapshot the local planner
   kept moves in (see :mod:`sfsync.sync.warehouse.moves`);
2. the key checks: no null primary key, no repeated one (up to 5 sample keys), before anything is sent;
3. ``send_<sync>_<diff>``: the rows to send (new, changed, resent) with their kind, resend flag and one
   send flag per mapped column, by the local planner's rules; ``gone_<sync>_<diff>``: snapshot keys no
   longer in the model;
4. commit, then the rows to send are streamed out (the only rows that leave the warehouse).

The per-diff tables stay until the snapshot advances (:mod:`sfsync.sync.warehouse.advance`), so a run
that crashed is settled from them.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from sfsync.errors import StateError
from sfsync.sources.base import ModelQuery
from sfsync.sources.duck import quote_ident
from sfsync.state.failures import unwritable
from sfsync.state.snapshots import check_sync_name
from sfsync.state.store import StateStore
from sfsync.sync.diff import DiffCounts, DiffResult, _check_columns
from sfsync.sync.diff_keys import SAMPLE_KEYS, refuse_bad_keys
from sfsync.sync.references import add_constants
from sfsync.sync.warehouse.connection import Warehouse
from sfsync.sync.warehouse.markers import WAREHOUSE_HASH_VERSION
from sfsync.sync.warehouse.moves import prepare
from sfsync.sync.warehouse.sql import DiffSql, Layout, Tables

#: File in a diff's work directory naming the warehouse that holds its tables.
WAREHOUSE_FILE = "warehouse.json"


@dataclass(frozen=True)
class WarehouseDiff:
    """Where a warehouse diff's tables are, and how many rows left the warehouse."""

    source: str
    schema: str
    dialect: str
    diff_key: str
    rows_out: int

    def write(self, work_dir: Path) -> None:
        tmp = work_dir / (WAREHOUSE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(work_dir / WAREHOUSE_FILE)

    @classmethod
    def of(cls, diff: DiffResult) -> WarehouseDiff | None:
        """The warehouse part of a diff (None: a local diff)."""
        path = diff.work_dir / WAREHOUSE_FILE
        if not path.exists():
            return None
        try:
            d = json.loads(path.read_text())
            return cls(
                str(d["source"]), str(d["schema"]), str(d["dialect"]), str(d["diff_key"]), int(d["rows_out"])
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"{path} is unreadable: {exc}", hint="discard the diff; the next run diffs afresh"
            ) from exc


def duckdb_types(schema: pa.Schema) -> dict[str, str]:
    """The DuckDB type names of an Arrow schema's columns (what the local planner records)."""
    con = duckdb.connect()
    try:
        con.register("cols", schema.empty_table())
        return {str(r[0]): str(r[1]) for r in con.execute("DESCRIBE SELECT * FROM cols").fetchall()}
    finally:
        con.close()


def compute_warehouse_diff(
    store: StateStore,
    wh: Warehouse,
    sync: str,
    query: ModelQuery,
    model_schema: pa.Schema,
    *,
    primary_key: str,
    columns: Sequence[str],
    constants: Mapping[str, object],
    planner_schema: str,
    full_resync: bool = False,
    model: str | None = None,
    on_read: Callable[[int], None] | None = None,
) -> DiffResult:
    """Diff ``query``'s rows against the sync's warehouse snapshot; write the rows to send locally.

    ``model_schema``: the Arrow schema the source reads the model's columns as; ``constants``: column
    name → value of the sync's constants (columns too, added as literals).
    """
    check_sync_name(sync)
    model = model or sync
    value_cols = list(dict.fromkeys(columns))
    fixed = dict(constants)
    full_schema = model_schema
    # the constants' Arrow types, as the local planner gives them
    for f in add_constants(pa.RecordBatchReader.from_batches(model_schema, iter([])), fixed).schema:
        if f.name not in full_schema.names:
            full_schema = full_schema.append(f)
    _check_columns(full_schema, primary_key, value_cols, model)
    stored = [primary_key, *(c for c in value_cols if c != primary_key)]
    types = {c: t for c, t in duckdb_types(full_schema).items() if c in stored}
    text_cols = {
        f.name for f in model_schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    }
    created = datetime.now(UTC)
    diff_id = f"{created.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
    diff_key = diff_id.rsplit("-", 1)[1]
    tables = Tables(planner_schema, sync)
    sql = DiffSql(wh.dialect, tables)
    current = store.snapshots.current(sync)
    base = current if current is not None and current.primary_key == primary_key else None
    lay = Layout(
        primary_key=primary_key,
        stored=tuple(stored),
        columns=tuple(value_cols),
        types=types,
        base_types=base.types if base is not None else None,
        full_resync=full_resync,
    )
    work_dir = store.paths.work / sync / diff_id
    try:
        prepare(store, wh, sql, sync, current, base)
        m = sql.model(query.with_columns(None).compose(quote_ident), stored, text_cols, primary_key, fixed)
        rows = _check_keys(wh, sql, m, primary_key, model)
        if on_read is not None:
            on_read(rows)
        wh.execute(sql.send_table(m, lay, diff_key))
        gone = 0
        if base is not None:
            wh.execute(sql.gone_table(m, lay, diff_key))
            gone = int(wh.fetchall(sql.count(tables.gone(diff_key)))[0][0])
        new, changed, resent = (int(v) for v in wh.fetchall(sql.diff_counts(diff_key))[0])
        wh.commit()
    except BaseException:
        wh.rollback()
        raise
    counts = DiffCounts(
        rows=rows,
        new=new,
        changed=changed,
        unchanged=rows - new - changed,
        resent=resent,
        gone=gone,
        previous_rows=base.rows if base is not None else None,
    )
    result = DiffResult(
        sync=sync,
        primary_key=primary_key,
        columns=tuple(value_cols),
        types=types,
        counts=counts,
        full_resync=full_resync,
        base_generation=current.generation if current else 0,
        hash_version=WAREHOUSE_HASH_VERSION,
        work_dir=work_dir,
        created_at=created,
    )
    try:
        work_dir.mkdir(parents=True)
        _download(wh, sql.select_send(diff_key), result.changes_path)
        WarehouseDiff(
            source=wh.name,
            schema=planner_schema,
            dialect=wh.dialect,
            diff_key=diff_key,
            rows_out=new + changed,
        ).write(work_dir)
        result._write_manifest()
    except BaseException as exc:
        shutil.rmtree(work_dir, ignore_errors=True)
        if isinstance(exc, OSError):
            raise unwritable(exc, work_dir.parent, f"the diff of sync `{sync}` (nothing was sent)") from exc
        raise
    return result


def _check_keys(wh: Warehouse, sql: DiffSql, m: exp.Select, primary_key: str, model: str) -> int:
    """Null or repeated primary keys are refused (counted in the warehouse), before anything is sent."""
    counts_sql, dups_sql = sql.key_checks(m, primary_key, SAMPLE_KEYS)
    rows, nulls = (int(v) for v in wh.fetchall(counts_sql)[0])
    refuse_bad_keys(model, primary_key, rows, nulls, wh.fetchall(dups_sql) if not nulls else [])
    return rows


def _download(wh: Warehouse, select: str, path: Path) -> None:
    """Stream the rows to send out of the warehouse into ``changes.parquet``."""
    reader = wh.read_arrow(select)
    with pq.ParquetWriter(path, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


__all__ = [
    "WAREHOUSE_FILE",
    "WarehouseDiff",
    "compute_warehouse_diff",
    "duckdb_types",
]
