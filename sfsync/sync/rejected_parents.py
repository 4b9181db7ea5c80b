"""After a run in a pass of several syncs: note the parent rows it rejected, for the syncs that follow.

A child names its parent through one of the parent's indexed fields (External ID or idLookup). The values
of those fields in the rows this run rejected (refused before sending, or rejected by Salesforce) go into
the pass's :class:`~sfsync.sync.references.RejectedParents`; a later child row naming one of them is
refused with a message saying so (``sfsync.sync.plan_related``). Only rows that would have created their
record count: rows new to an ``insert`` or ``upsert`` sync. A rejected change to a record that an earlier
run wrote leaves that record in place (its children still find it), and an ``update`` sync creates
nothing. The values are read from the diff's changed rows, which hold every column the sync reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from sfsync.config import FieldTarget, ResolvedSync
from sfsync.salesforce.describe import FieldInfo, ObjectDescribe
from sfsync.sync.diff import KIND_COLUMN, DiffResult, q
from sfsync.sync.references import RejectedParents


def _indexed(describe: ObjectDescribe, name: str) -> FieldInfo | None:
    f = describe.field(name)
    if f is None or f.type == "id" or not (f.external_id or f.id_lookup):
        return None
    return f


def parent_key_columns(resolved: ResolvedSync, describe: ObjectDescribe) -> list[tuple[FieldInfo, str]]:
    """(indexed field, model column) pairs a sync writes: the fields children can look its rows up by."""
    sync = resolved.sync
    out: list[tuple[FieldInfo, str]] = []
    if sync.object_id is not None:
        f = _indexed(describe, sync.object_id.field)
        if f is not None:
            out.append((f, sync.object_id.column))
    for column, target in sync.mappings.items():
        if isinstance(target, FieldTarget):
            f = _indexed(describe, target.field)
            if f is not None and all(f.name != g.name for g, _ in out):
                out.append((f, column))
    return out


def note_rejected_parents(
    rejected: RejectedParents,
    resolved: ResolvedSync,
    describe: ObjectDescribe,
    diff: DiffResult,
    rejected_keys: Sequence[pa.Array],
) -> None:
    """Add the indexed-field values of this run's rejected rows to ``rejected``."""
    pairs = parent_key_columns(resolved, describe)
    keys = [k for k in rejected_keys if len(k)]
    if not pairs or not keys or resolved.sync.mode == "update":
        return
    con = duckdb.connect()
    try:
        con.register("__rejected", pa.table({"k": pa.concat_arrays(keys).cast(pa.string())}))
        for f, column in pairs:
            rows = con.execute(
                f"SELECT DISTINCT CAST({q(column)} AS VARCHAR) FROM read_parquet('{diff.changes_path}') "
                f"WHERE CAST({q(diff.primary_key)} AS VARCHAR) IN (SELECT k FROM __rejected) "
                f"AND {q(column)} IS NOT NULL AND {KIND_COLUMN} = 'new'"
            ).fetchall()
            case_sensitive = bool(f.raw.get("caseSensitive"))
            rejected.add(resolved.name, describe.name, f.name, [str(r[0]) for r in rows], case_sensitive)
    finally:
        con.close()


__all__ = ["note_rejected_parents", "parent_key_columns"]
