"""How the local state store records a snapshot whose rows the warehouse keeps.

The local snapshot store (``.sfsync/snapshots/<sync>/CURRENT``) stays the one place that says which
generation a sync is at, with its columns, types, row counts and the validated mapping schema. When the
warehouse planner keeps the rows, the generation's Parquet files are empty and ``extra`` says so
(``planner: warehouse``, the source and the planner schema). The warehouse's bookkeeping table records the
generation its tables hold; the two agree except for a moment during an advance, which the next run
settles (docs/warehouse-planner.md#crash-safety).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from sfsync.state.failures import unwritable
from sfsync.state.snapshots import SnapshotInfo
from sfsync.state.store import StateStore

#: Snapshot ``extra`` key saying which planner keeps the snapshot's rows (absent: the local planner).
PLANNER_KEY = "planner"
#: Snapshot ``extra`` keys naming where the warehouse keeps them.
SOURCE_KEY = "planner_source"
SCHEMA_KEY_WH = "planner_schema"
#: ``hash_version`` of snapshots the warehouse planner keeps: it compares values, no row hash.
WAREHOUSE_HASH_VERSION = "warehouse-values-v1"


def kept_in_warehouse(info: SnapshotInfo | None) -> bool:
    """True when the snapshot's rows live in the warehouse (its local files are empty markers)."""
    return info is not None and info.extra.get(PLANNER_KEY) == "warehouse"


def publish_marker(
    store: StateStore,
    sync: str,
    base: SnapshotInfo | None,
    *,
    primary_key: str,
    columns: tuple[str, ...],
    types: dict[str, str],
    rows: int,
    rejected: int,
    extra: dict[str, str],
) -> SnapshotInfo:
    """Publish the generation after ``base`` as kept in the warehouse (empty local files)."""
    try:
        pending = store.snapshots.begin(sync, base)
    except OSError as exc:
        raise unwritable(exc, store.snapshots.directory(sync), f"the snapshot of sync `{sync}`") from exc
    try:
        empty = pa.table({primary_key: pa.array([], pa.string())})
        pq.write_table(empty, pending.snapshot_tmp)
        pq.write_table(empty, pending.rejected_tmp)
        return store.snapshots.publish(
            pending,
            primary_key=primary_key,
            columns=columns,
            types=types,
            hash_version=WAREHOUSE_HASH_VERSION,
            rows=rows,
            rejected=rejected,
            extra={**extra, PLANNER_KEY: "warehouse"},
        )
    except BaseException as exc:
        store.snapshots.discard(pending)
        if isinstance(exc, OSError):
            raise unwritable(exc, pending.directory, f"the snapshot of sync `{sync}`") from exc
        raise


__all__ = [
    "PLANNER_KEY",
    "SCHEMA_KEY_WH",
    "SOURCE_KEY",
    "WAREHOUSE_HASH_VERSION",
    "kept_in_warehouse",
    "publish_marker",
]
