"""Rows that left the model, with the warehouse planner (``on_row_removed``; :mod:`sfsync.sync.removals`).

The diff leaves the snapshot keys no longer in the model in ``gone_<tag>_<diff>`` (in the warehouse). For
a removal plan only those keys come out, each with the object id value the snapshot holds for it (the
value Salesforce accepted, as the local planner reads it from its snapshot); when the guard blocks, only
a few sample keys do. At the advance, in its transaction, the gone keys whose removal was planned but not
accepted are taken off the gone table first, so the snapshot keeps them and the next run removes them
again (the local rule, :mod:`sfsync.sync.snapshot`).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from sfsync.errors import StateError
from sfsync.state.store import StateStore
from sfsync.sync.diff import DiffResult
from sfsync.sync.target import KEY, PK
from sfsync.sync.warehouse.connection import Warehouse
from sfsync.sync.warehouse.planner import WarehouseDiff
from sfsync.sync.warehouse.sql import KEY_COLUMN, DiffSql, Tables, as_text, col, ident


def gone_rows_sql(
    sql: DiffSql, diff_key: str, primary_key: str, key_column: str | None, limit: int | None
) -> str:
    """``__pk`` (text) and ``__key`` (the snapshot's object id value as text, or null) of the gone keys."""
    key: exp.Expr = as_text(col(key_column, "s")) if key_column is not None else as_text(exp.null())
    select = (
        exp.select(exp.alias_(col(KEY_COLUMN, "g"), ident(PK)), exp.alias_(key, ident(KEY)))
        .from_(sql.t.gone(diff_key).as_(ident("g")))
        .join(
            sql.t.snapshot.as_(ident("s")),
            on=exp.EQ(this=as_text(col(primary_key, "s")), expression=col(KEY_COLUMN, "g")),
        )
    )
    if limit is not None:
        select = select.order_by(col(KEY_COLUMN, "g")).limit(limit)
    return sql.render(select)


def keep_unaccepted_sql(sql: DiffSql, diff_key: str) -> str:
    """Delete from the gone table the keys Salesforce did not accept a removal for (they stay in the
    snapshot): ``DELETE FROM gone WHERE NOT EXISTS (SELECT 1 FROM acc AS x WHERE x.k = gone.k)``."""
    gone = sql.t.gone(diff_key)
    own = exp.column(KEY_COLUMN, table=gone.name, db=sql.t.schema, quoted=True)
    inner = (
        exp.select(exp.Literal.number(1))
        .from_(sql.t.accepted(diff_key).as_(ident("x")))
        .where(exp.EQ(this=col(KEY_COLUMN, "x"), expression=own))
    )
    return sql.render(exp.delete(gone, where=exp.not_(exp.Exists(this=inner))))


def removed_in_warehouse(
    store: StateStore, wh: Warehouse, diff: DiffResult, key_column: str, limit: int | None = None
) -> pa.Table:
    """The rows that left the model, out of the warehouse: ``__pk`` and ``__key`` (text), in key order
    (all of them, or the first ``limit``)."""
    info = WarehouseDiff.of(diff)
    if info is None:
        raise StateError(f"diff {diff.work_dir.name} is not a warehouse diff", hint="this is a bug in sfsync")
    base = store.snapshots.current(diff.sync)
    if base is None or base.generation != diff.base_generation:
        raise StateError(
            f"the snapshot of sync `{diff.sync}` moved since diff {diff.work_dir.name} was made",
            hint="run the sync again: it diffs afresh",
        )
    known = key_column == base.primary_key or key_column in base.columns
    sql = DiffSql(wh.dialect, Tables(info.schema, diff.sync))
    statement = gone_rows_sql(sql, info.diff_key, base.primary_key, key_column if known else None, limit)
    table = wh.read_arrow(statement).read_all()
    # the warehouse names result columns its own way (Snowflake upper-cases unquoted ones): by position
    out = pa.table(
        {
            PK: pc.cast(table.column(0), pa.string()),
            KEY: pc.cast(table.column(1), pa.string()),
        }
    )
    return out.sort_by(PK)


__all__ = ["gone_rows_sql", "keep_unaccepted_sql", "removed_in_warehouse"]
