"""Advancing a warehouse snapshot after a run, in one warehouse transaction.

The primary keys Salesforce accepted are loaded into a staging table (``COPY`` on PostgreSQL); then, in
the same transaction, the accepted rows of the diff's send table take their new values in the snapshot
table, rows that left the model leave it, the rejected-keys table is replaced by the keys sent but not
accepted, the bookkeeping row moves to the next generation (naming this diff) and the diff's tables are
dropped. The rules are the local planner's (:mod:`sfsync.sync.snapshot`), removals included: a gone key
whose removal was planned (``on_row_removed``) leaves only when Salesforce accepted the removal.

Crash safety: the local store's ``CURRENT`` is published after the warehouse commit. Killed before the
commit: nothing moved, the diff's work directory and tables are still there, and the next run's recovery
advances from them with the keys stored in the run's results. Killed after the commit, before the local
publish: the bookkeeping row already names this diff at the next generation, so recovery only publishes
the local marker. An advance is therefore applied exactly once.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from sfsync.errors import StateError
from sfsync.state.snapshots import SnapshotInfo
from sfsync.state.store import StateStore
from sfsync.sync.diff import DiffResult
from sfsync.sync.schema_check import SCHEMA_KEY
from sfsync.sync.warehouse.connection import Warehouse
from sfsync.sync.warehouse.gone import keep_unaccepted_sql
from sfsync.sync.warehouse.markers import SCHEMA_KEY_WH, SOURCE_KEY, publish_marker
from sfsync.sync.warehouse.moves import warehouse_generation
from sfsync.sync.warehouse.planner import WarehouseDiff
from sfsync.sync.warehouse.sql import DiffSql, Layout, Tables


def advance_in_warehouse(
    store: StateStore,
    wh: Warehouse,
    diff: DiffResult,
    accepted_keys: pa.Array | pa.ChunkedArray,
    *,
    validated: str | None = None,
    discard: bool = True,
) -> SnapshotInfo:
    """Move the sync's warehouse snapshot past ``diff`` keeping the rows Salesforce accepted."""
    info = WarehouseDiff.of(diff)
    if info is None:
        raise StateError(f"diff {diff.work_dir.name} is not a warehouse diff", hint="this is a bug in sfsync")
    current = store.snapshots.current(diff.sync)
    base_gen = current.generation if current else 0
    if current is not None and current.extra.get("diff") == diff.work_dir.name:
        if discard:  # published already by a call that stopped before discarding the diff
            diff.discard()
        return current
    if base_gen != diff.base_generation:
        raise StateError(
            f"diff {diff.work_dir.name} of sync `{diff.sync}` was made against snapshot generation "
            f"{diff.base_generation}, but the snapshot is now at {base_gen}",
            hint="discard this diff (DiffResult.discard) and diff again",
        )
    base = current if current is not None and current.primary_key == diff.primary_key else None
    sql = DiffSql(wh.dialect, Tables(info.schema, diff.sync))
    target = base_gen + 1
    try:
        held = warehouse_generation(wh, sql)
        if held != (target, info.diff_key):  # not applied yet (else a crash came before the local publish)
            if held is None or held[0] != base_gen:
                raise StateError(
                    f"sync `{diff.sync}`: the warehouse snapshot is at generation "
                    f"{'none' if held is None else held[0]}, the diff was made against {base_gen}",
                    hint="run the sync again: it diffs afresh",
                )
            _apply(wh, sql, diff, info, base, accepted_keys, target)
        rows = int(wh.fetchall(sql.count(sql.t.snapshot))[0][0])
        rejected = int(wh.fetchall(sql.count(sql.t.rejected))[0][0])
        wh.commit()
    except BaseException:
        wh.rollback()
        raise
    extra = {"diff": diff.work_dir.name, SOURCE_KEY: info.source, SCHEMA_KEY_WH: info.schema}
    schema = validated if validated is not None else (current.extra.get(SCHEMA_KEY) if current else None)
    if schema is not None:
        extra[SCHEMA_KEY] = schema
    published = publish_marker(
        store,
        diff.sync,
        current,
        primary_key=diff.primary_key,
        columns=tuple(sorted(diff.columns)),
        types=diff.types,
        rows=rows,
        rejected=rejected,
        extra=extra,
    )
    if discard:
        diff.discard()
    return published


def _apply(
    wh: Warehouse,
    sql: DiffSql,
    diff: DiffResult,
    info: WarehouseDiff,
    base: SnapshotInfo | None,
    accepted_keys: pa.Array | pa.ChunkedArray,
    target: int,
) -> None:
    stored = (diff.primary_key, *(c for c in diff.columns if c != diff.primary_key))
    lay = Layout(
        primary_key=diff.primary_key,
        stored=stored,
        columns=diff.columns,
        types=diff.types,
        base_types=base.types if base is not None else None,
        full_resync=diff.full_resync,
    )
    if lay.base_types is not None and not lay.same_layout():
        send_types = {
            str(c): str(t) for c, t in wh.fetchall(sql.column_types(sql.t.send(info.diff_key).name))
        }
    else:
        send_types = {}
    keys = pc.cast(accepted_keys, pa.string()).to_pylist() if len(accepted_keys) else []
    acc = sql.t.accepted(info.diff_key)
    wh.execute(sql.drop(acc))
    wh.execute(sql.create_keys_table(acc))
    wh.load_keys(sql.copy_keys(acc), sql.insert_keys(acc), [k for k in keys if k is not None])
    if wh.dialect == "postgres":
        wh.execute(sql.analyze(acc))
    if base is None:
        # no usable snapshot: the diff sent every row; no gone table was made
        wh.execute(sql.drop(sql.t.gone(info.diff_key)))
        wh.execute(sql.create_keys_table(sql.t.gone(info.diff_key)))
    elif diff.removals_path.exists():
        # on_row_removed: a removal the run planned but Salesforce did not accept keeps its snapshot row
        # (the next run removes it again); only the accepted ones leave with the other gone keys
        wh.execute(keep_unaccepted_sql(sql, info.diff_key))
    for statement in sql.advance(lay, info.diff_key, send_types, target):
        wh.execute(statement)
    if wh.dialect == "postgres":  # the next diff's join plans need the rewritten tables' statistics
        wh.execute(sql.analyze(sql.t.snapshot))
        wh.execute(sql.analyze(sql.t.rejected))


__all__ = ["advance_in_warehouse"]
