"""Which planner diffs a sync, and the switch between them (docs/warehouse-planner.md).

``local`` (the default) streams the model into DuckDB (:mod:`sfsync.sync.diff`); ``warehouse`` (a sync's
or its source's ``planner: warehouse``, on PostgreSQL or Snowflake) diffs inside the warehouse
(:mod:`sfsync.sync.warehouse`). Both give a :class:`~sfsync.sync.diff.DiffResult`; the engine calls
:func:`diff_in_warehouse` or the local diff, :func:`gone_rows` for the removal step, and :func:`advance`
for either. A snapshot kept by the other planner moves first, so switching keeps history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pyarrow as pa

from sfsync.config import PostgresSource, Project, ResolvedSync, SnowflakeSource
from sfsync.config.sources import DEFAULT_PLANNER_SCHEMA, warehouse_dialect
from sfsync.errors import ConfigError
from sfsync.sources.base import ModelQuery, Source
from sfsync.state.snapshots import SnapshotInfo
from sfsync.state.store import StateStore
from sfsync.sync.diff import DiffResult, DiffSettings
from sfsync.sync.removals import GoneRows
from sfsync.sync.snapshot import AcceptedKeys, advance_snapshot
from sfsync.sync.warehouse.advance import advance_in_warehouse
from sfsync.sync.warehouse.connection import PostgresWarehouse, Warehouse, open_snowflake_warehouse
from sfsync.sync.warehouse.gone import removed_in_warehouse
from sfsync.sync.warehouse.markers import SOURCE_KEY, kept_in_warehouse
from sfsync.sync.warehouse.moves import move_to_local
from sfsync.sync.warehouse.planner import WarehouseDiff, compute_warehouse_diff


def planner_setting(resolved: ResolvedSync) -> str:
    """The planner a sync asks for: its own ``planner:``, else its source's, else ``local``."""
    if resolved.sync.planner is not None:
        return resolved.sync.planner
    return getattr(resolved.source, "planner", "local")


def uses_warehouse(resolved: ResolvedSync) -> bool:
    """True when the sync diffs in its warehouse (the project file's checks made sure it can)."""
    return planner_setting(resolved) == "warehouse" and warehouse_dialect(resolved.source) is not None


def open_warehouse(project: Project, source: str) -> Warehouse:
    config = project.sources.get(source)
    if isinstance(config, PostgresSource):
        return PostgresWarehouse(source, config)
    if isinstance(config, SnowflakeSource):
        return open_snowflake_warehouse(source, config)
    raise ConfigError(
        f"source {source!r} keeps a sync's snapshot in the warehouse but is no longer a source the "
        "warehouse planner runs on",
        hint="restore the source, or reset the sync's snapshot (its next run sends every row)",
    )


def planner_schema(project: Project, source: str) -> str:
    config = project.sources.get(source)
    return getattr(config, "planner_schema", DEFAULT_PLANNER_SCHEMA)


def gone_rows(project: Project, store: StateStore, diff: DiffResult) -> GoneRows | None:
    """How the removal step reads the rows that left the model: None for a local diff (its own files),
    else out of the warehouse that keeps them."""
    info = WarehouseDiff.of(diff)
    if info is None:
        return None

    def read(key_column: str, limit: int | None) -> pa.Table:
        wh = open_warehouse(project, info.source)
        try:
            return removed_in_warehouse(store, wh, diff, key_column, limit)
        finally:
            wh.close()

    return read


def diff_in_warehouse(
    project: Project,
    store: StateStore,
    resolved: ResolvedSync,
    source: Source,
    query: ModelQuery,
    *,
    columns: Sequence[str],
    constants: Mapping[str, object],
    full_resync: bool,
    on_read: Callable[[int], None] | None,
) -> DiffResult:
    """The diff of ``resolved`` computed in its SQL source."""
    schema = source.schema(query)
    wh = open_warehouse(project, resolved.source_name)
    try:
        return compute_warehouse_diff(
            store,
            wh,
            resolved.name,
            query,
            schema,
            primary_key=resolved.model.primary_key,
            columns=columns,
            constants=constants,
            planner_schema=planner_schema(project, resolved.source_name),
            full_resync=full_resync,
            model=resolved.model_name,
            on_read=on_read,
        )
    finally:
        wh.close()


def bring_home(project: Project, store: StateStore, sync: str) -> SnapshotInfo | None:
    """Before a local diff: a snapshot the warehouse keeps moves into the local store."""
    current = store.snapshots.current(sync)
    if not kept_in_warehouse(current):
        return current
    assert current is not None
    wh = open_warehouse(project, current.extra.get(SOURCE_KEY, ""))
    try:
        return move_to_local(store, wh, current)
    finally:
        wh.close()


def advance(
    project: Project,
    store: StateStore,
    diff: DiffResult,
    accepted_keys: AcceptedKeys,
    *,
    validated: str | None = None,
) -> SnapshotInfo:
    """Advance the sync's snapshot past ``diff`` with the planner that made it."""
    info = WarehouseDiff.of(diff)
    if info is None:
        settings = DiffSettings.of(project.state)
        return advance_snapshot(store, diff, accepted_keys, settings=settings, validated=validated)
    keys = _key_array(accepted_keys, diff.primary_key)
    wh = open_warehouse(project, info.source)
    try:
        return advance_in_warehouse(store, wh, diff, keys, validated=validated)
    finally:
        wh.close()


def _key_array(keys: AcceptedKeys, primary_key: str) -> pa.Array | pa.ChunkedArray:
    """Accepted keys in any form ``advance_snapshot`` takes, as one Arrow column."""
    if isinstance(keys, pa.Array | pa.ChunkedArray):
        return keys
    if isinstance(keys, pa.RecordBatchReader):
        keys = keys.read_all()
    if isinstance(keys, pa.Table):
        return keys.column(primary_key if primary_key in keys.column_names else 0)
    return pa.array(list(keys))


def planner_of(diff: DiffResult) -> tuple[str, int]:
    """(planner name, rows that left the source for this diff)."""
    info = WarehouseDiff.of(diff)
    if info is None:
        return "local", diff.counts.rows
    return "warehouse", info.rows_out


__all__ = [
    "advance",
    "bring_home",
    "diff_in_warehouse",
    "gone_rows",
    "open_warehouse",
    "planner_of",
    "planner_setting",
    "uses_warehouse",
]
