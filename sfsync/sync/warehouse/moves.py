"""Getting the warehouse ready for a diff, and moving a sync's snapshot between the planners.

Switching a sync between ``planner: local`` and ``planner: warehouse`` keeps its history: the snapshot
moves, so the first run after the switch sends only what changed.

- **local → warehouse** (:func:`prepare`, when the local store holds the rows): the snapshot's rows and
  rejected keys are copied into the sync's warehouse tables (DuckDB writes CSV, PostgreSQL ``COPY``s
  it), and the warehouse's bookkeeping row takes the local generation;
- **warehouse → local** (:func:`move_to_local`): the warehouse tables are read out, hashed as the local
  planner hashes, and published as the next local generation.
"""

from __future__ import annotations

import shutil
import uuid

import duckdb
import pyarrow.parquet as pq

from sfsync.errors import StateError
from sfsync.state.failures import unwritable
from sfsync.state.snapshots import SnapshotInfo
from sfsync.state.store import StateStore
from sfsync.sync.diff import (
    HASH_COLUMN,
    HASH_VERSION,
    DiffSettings,
    _lit,
    connect,
    engine_error,
    pending_diffs,
    q,
)
from sfsync.sync.schema_check import SCHEMA_KEY
from sfsync.sync.warehouse.connection import Warehouse
from sfsync.sync.warehouse.markers import SCHEMA_KEY_WH, kept_in_warehouse
from sfsync.sync.warehouse.sql import KEY_COLUMN, DiffSql, Tables


def warehouse_generation(wh: Warehouse, sql: DiffSql) -> tuple[int, str | None] | None:
    """(generation, diff key) the warehouse's tables of the sync hold, or None when it has none."""
    rows = wh.fetchall(sql.read_meta())
    return (int(rows[0][0]), None if rows[0][1] is None else str(rows[0][1])) if rows else None


def prepare(
    store: StateStore,
    wh: Warehouse,
    sql: DiffSql,
    sync: str,
    current: SnapshotInfo | None,
    base: SnapshotInfo | None,
) -> None:
    """Create what the planner owns when missing, drop tables of abandoned diffs, and make the
    warehouse's tables hold the sync's current snapshot (moving it in from the local store if it is
    there). Runs in the caller's transaction."""
    home = wh.fetchall(sql.current_schema()) if wh.dialect == "snowflake" else []
    wh.execute(sql.create_schema())
    if home and home[0][0] and home[0][1]:  # Snowflake made the new schema current: the model reads the old
        wh.execute(sql.use_schema(str(home[0][0]), str(home[0][1])))
    for statement in (sql.create_meta(), sql.create_rejected()):
        wh.execute(statement)
    waiting = {d.work_dir.name.rsplit("-", 1)[-1] for d in pending_diffs(store, sync)}
    for (name,) in wh.fetchall(sql.list_tables()):
        if str(name).startswith(sql.t.diff_prefixes()) and str(name).rsplit("_", 1)[-1] not in waiting:
            wh.execute(sql.drop(sql.t.table(str(name))))
    held = warehouse_generation(wh, sql)
    if kept_in_warehouse(current):
        assert current is not None
        if held is None or held[0] != current.generation:
            raise StateError(
                f"sync `{sync}`: the local state says its snapshot is generation {current.generation} in the "
                f"warehouse, but the warehouse holds {'none' if held is None else held[0]}",
                hint="run the sync (a run settles an interrupted snapshot advance first); if this stays, "
                "run it once with --full-resync",
            )
        return
    # the local store holds the rows (or there are none yet): they move into the warehouse
    wh.execute(sql.drop(sql.t.snapshot))
    wh.execute(sql.delete_all(sql.t.rejected))
    if base is not None:
        _copy_in(store, wh, sql, base)
    for statement in sql.set_meta(current.generation if current else 0, None):
        wh.execute(statement)


def _copy_in(store: StateStore, wh: Warehouse, sql: DiffSql, base: SnapshotInfo) -> None:
    """The local snapshot's rows and rejected keys into the sync's warehouse tables."""
    names = [n for n in pq.ParquetFile(base.snapshot_path).schema_arrow.names if n != HASH_COLUMN]
    types = {n: base.types[n] for n in names if n in base.types}
    con, spill = connect(store, DiffSettings(), f"move-{uuid.uuid4().hex[:8]}")
    rows_csv, keys_csv = spill / "snapshot.csv", spill / "rejected.csv"
    try:
        cols = ", ".join(q(n) for n in types)
        con.execute(
            f"COPY (SELECT {cols} FROM read_parquet({_lit(str(base.snapshot_path))}))"
            f" TO {_lit(str(rows_csv))} (HEADER false)"
        )
        con.execute(
            f"COPY (SELECT CAST({q(base.primary_key)} AS VARCHAR) FROM read_parquet("
            f"{_lit(str(base.rejected_path))})) TO {_lit(str(keys_csv))} (HEADER false)"
        )
    except duckdb.Error as exc:
        shutil.rmtree(spill, ignore_errors=True)
        raise engine_error(exc, f"moving the snapshot of sync `{base.sync}`", DiffSettings(), spill) from exc
    except OSError as exc:
        shutil.rmtree(spill, ignore_errors=True)
        raise unwritable(exc, spill, f"moving the snapshot of sync `{base.sync}`") from exc
    finally:
        con.close()
    try:
        wh.execute(sql.create_table(sql.t.snapshot, types, "duckdb"))
        for table, columns, path in (
            (sql.t.snapshot, list(types), rows_csv),
            (sql.t.rejected, [KEY_COLUMN], keys_csv),
        ):
            wh.load_csv(sql.copy_into(table, columns), sql.insert_row(table, columns), path)
        if wh.dialect == "postgres":  # Snowflake keeps its statistics itself (it has no ANALYZE)
            wh.execute(sql.analyze(sql.t.snapshot))
            wh.execute(sql.analyze(sql.t.rejected))
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def move_to_local(store: StateStore, wh: Warehouse, current: SnapshotInfo) -> SnapshotInfo:
    """Publish the warehouse's snapshot of a sync as its next local generation (rows hashed as the local
    planner hashes them, so the next local diff compares hashes and sends nothing extra)."""
    schema = current.extra.get(SCHEMA_KEY_WH, "sfsync")
    sql = DiffSql(wh.dialect, Tables(schema, current.sync))
    held = warehouse_generation(wh, sql)
    wh.rollback()
    if held is None or held[0] != current.generation:
        raise StateError(
            f"sync `{current.sync}`: its snapshot should be generation {current.generation} in the warehouse "
            f"schema {schema}, which holds {'none' if held is None else held[0]}",
            hint="run the sync once with planner: warehouse to settle it, or with --full-resync",
        )
    snap = wh.read_arrow(sql.select_all(sql.t.snapshot)).read_all()
    rejected = wh.read_arrow(sql.select_all(sql.t.rejected)).read_all()
    pending = store.snapshots.begin(current.sync, current)
    con, spill = connect(store, DiffSettings(), f"move-{uuid.uuid4().hex[:8]}")
    try:
        con.register("snap_src", snap)
        con.register("rej_src", rejected)
        types = {str(r[0]): str(r[1]) for r in con.execute("DESCRIBE SELECT * FROM snap_src").fetchall()}
        hashed = sorted(current.columns)
        hash_expr = f"hash({', '.join(q(c) for c in hashed)})" if hashed else "hash(NULL)"
        con.execute(
            f"COPY (SELECT *, {hash_expr} AS {HASH_COLUMN} FROM snap_src)"
            f" TO {_lit(str(pending.snapshot_tmp))} (FORMAT parquet)"
        )
        pk = current.primary_key
        con.execute(
            f"COPY (SELECT TRY_CAST({q(KEY_COLUMN)} AS {types[pk]}) AS {q(pk)} FROM rej_src)"
            f" TO {_lit(str(pending.rejected_tmp))} (FORMAT parquet)"
        )
        extra = {"diff": "moved-from-warehouse", "accepted": "0"}
        if SCHEMA_KEY in current.extra:
            extra[SCHEMA_KEY] = current.extra[SCHEMA_KEY]
        return store.snapshots.publish(
            pending,
            primary_key=pk,
            columns=tuple(hashed),
            types=types,
            hash_version=HASH_VERSION,
            rows=snap.num_rows,
            rejected=rejected.num_rows,
            extra=extra,
        )
    except BaseException:
        store.snapshots.discard(pending)
        raise
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


__all__ = ["move_to_local", "prepare", "warehouse_generation"]
