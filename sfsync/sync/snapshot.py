"""Advancing a sync's snapshot after a run: only rows Salesforce accepted take their new values.

The next snapshot is built from the previous one and the diff's outputs, in DuckDB:

- rows Salesforce **accepted** (their key is in ``accepted_keys`` and among the rows sent) take the
  model's values;
- rows sent but **not accepted** (rejected, or never attempted because the run stopped) keep their old
  values, or stay absent if they were new; their keys form the new *rejected* set, resent next run;
- rows that were **unchanged** keep their values;
- rows that **left the model** drop out of the snapshot; if such a row comes back later it is "new" again
  and is sent in full (an upsert or update then simply rewrites the record; an insert-mode sync creates a
  new record, as it does for any new row). With ``on_row_removed`` (``sfsync.sync.removals``) a row whose
  removal (clear, flag, delete) the run planned but Salesforce did not accept stays, with its old values,
  so the next run removes it again.

Every row's hash is recomputed when the column set, a column type or the hash function changed, so the
next diff can trust it. When nothing was accepted and nothing left the model, the old Parquet file is
reused through a hard link instead of being rewritten. The swap itself is atomic (``SnapshotStore.publish``)
and refuses to move a snapshot that changed since the diff was made.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sfsync.errors import StateError
from sfsync.state.failures import unwritable
from sfsync.state.snapshots import PendingSnapshot, SnapshotInfo
from sfsync.state.store import StateStore
from sfsync.sync.diff import HASH_COLUMN, DiffResult, DiffSettings, _lit, connect, engine_error, q
from sfsync.sync.schema_check import SCHEMA_KEY

AcceptedKeys: TypeAlias = pa.Array | pa.ChunkedArray | pa.Table | pa.RecordBatchReader | Sequence[Any]
_A = "_sfsync_accepted"
#: Keys compared at a time when checking that every row was accepted in the diff's order.
COMPARE_BATCH_ROWS = 1_000_000


def _accepted_table(keys: AcceptedKeys, primary_key: str) -> pa.Table | pa.RecordBatchReader:
    if isinstance(keys, pa.Table | pa.RecordBatchReader):
        names = keys.schema.names
        name = primary_key if primary_key in names else names[0] if len(names) == 1 else None
        if name is None:
            raise StateError(
                f"accepted keys have columns {', '.join(names)} but none is the primary key `{primary_key}`",
                hint="pass one column, or a table with the primary key column",
            )
        if isinstance(keys, pa.Table):
            return keys.select([name]).rename_columns([_A])
        return pa.RecordBatchReader.from_batches(
            pa.schema([pa.field(_A, keys.schema.field(name).type)]),
            (pa.RecordBatch.from_arrays([b.column(name)], names=[_A]) for b in keys),
        )
    if isinstance(keys, pa.Array | pa.ChunkedArray):
        return pa.table({_A: keys})
    return pa.table({_A: pa.array(list(keys))})


def advance_snapshot(
    store: StateStore,
    diff: DiffResult,
    accepted_keys: AcceptedKeys,
    *,
    settings: DiffSettings | None = None,
    discard: bool = True,
    validated: str | None = None,
) -> SnapshotInfo:
    """Publish the sync's next snapshot from ``diff`` and the primary keys Salesforce accepted.

    ``accepted_keys`` are primary keys of rows sent in this diff (other keys are ignored), ideally with
    the primary key's type; keys of another type (e.g. the text keys of ``row_results``) are cast to it.
    With ``discard`` the diff's work directory is removed once the snapshot is published. Calling it
    again for a diff it already published (a crash before the discard) returns that snapshot.
    ``validated``: the mapping schema the run validated (``sfsync.sync.schema_check``), stored with the
    snapshot; when None, the current snapshot's is kept.
    """
    settings = settings or DiffSettings()
    current = store.snapshots.current(diff.sync)
    base_gen = current.generation if current else 0
    # a snapshot keyed by another primary key: the diff sent every row as new; it is replaced entirely
    base = current if current is not None and current.primary_key == diff.primary_key else None
    if base_gen != diff.base_generation:
        if current is not None and current.extra.get("diff") == diff.work_dir.name:
            # already published by an earlier call that stopped before discarding the diff
            if discard:
                diff.discard()
            return current
        raise StateError(
            f"diff {diff.work_dir.name} of sync `{diff.sync}` was made against snapshot generation "
            f"{diff.base_generation}, but the snapshot is now at {base_gen}",
            hint="discard this diff (DiffResult.discard) and diff again",
        )
    try:
        pending = store.snapshots.begin(diff.sync, current)
    except OSError as exc:
        raise unwritable(
            exc, store.snapshots.directory(diff.sync), f"the snapshot of sync `{diff.sync}`"
        ) from exc
    tag = f"advance-{uuid.uuid4().hex[:8]}"
    con, spill = connect(store, settings, tag)
    try:
        accepted = _build(con, diff, base, _accepted_table(accepted_keys, diff.primary_key), pending)
        rows = pq.ParquetFile(pending.snapshot_tmp).metadata.num_rows
        rejected = pq.ParquetFile(pending.rejected_tmp).metadata.num_rows
        info = store.snapshots.publish(
            pending,
            primary_key=diff.primary_key,
            columns=tuple(sorted(diff.columns)),
            types=diff.types,
            hash_version=diff.hash_version,
            rows=rows,
            rejected=rejected,
            extra=_extra(diff, accepted, validated, current),
        )
    except BaseException as exc:
        store.snapshots.discard(pending)
        if isinstance(exc, duckdb.Error):
            raise engine_error(exc, f"snapshot advance of sync `{diff.sync}`", settings, spill) from exc
        if isinstance(exc, OSError):
            raise unwritable(exc, pending.directory, f"the snapshot of sync `{diff.sync}`") from exc
        raise
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    if discard:
        diff.discard()
    return info


def _extra(
    diff: DiffResult, accepted: int, validated: str | None, current: SnapshotInfo | None
) -> dict[str, str]:
    extra = {"diff": diff.work_dir.name, "accepted": str(accepted)}
    schema = validated if validated is not None else (current.extra.get(SCHEMA_KEY) if current else None)
    if schema is not None:
        extra[SCHEMA_KEY] = schema
    return extra


def _retained_removals(con: duckdb.DuckDBPyConnection, diff: DiffResult, pk: str) -> int:
    """Table ``retained`` (text keys): planned removals Salesforce did not accept; how many."""
    if diff.removals_path.exists():
        con.execute(
            f"CREATE TEMP TABLE retained AS SELECT CAST({pk} AS VARCHAR) AS k"
            f" FROM read_parquet({_lit(str(diff.removals_path))})"
            f" WHERE CAST({pk} AS VARCHAR) NOT IN (SELECT CAST({_A} AS VARCHAR) FROM accepted_all)"
        )
    else:
        con.execute("CREATE TEMP TABLE retained (k VARCHAR)")
    return int((con.execute("SELECT count(*) FROM retained").fetchone() or (0,))[0])


def _accepted_changes(
    con: duckdb.DuckDBPyConnection, diff: DiffResult, accepted: pa.Table | pa.RecordBatchReader
) -> bool:
    """Tables ``accepted_all`` (every accepted key) and ``acc`` (the keys of view ``changes`` that were
    accepted, in the primary key's type); True when every row of ``changes`` was accepted."""
    pk = q(diff.primary_key)
    every = _every_row_in_order(diff, accepted)
    # removals are keys of rows that left, never among the sent rows: with every sent key, none is here
    con.register(
        "accepted_src", accepted.slice(0, 0) if every and isinstance(accepted, pa.Table) else accepted
    )
    # read once (a reader cannot be read twice): the sent rows and the removals both look at it
    con.execute(f"CREATE TEMP TABLE accepted_all AS SELECT {_A} FROM accepted_src")
    con.unregister("accepted_src")
    if every:
        con.execute(f"CREATE VIEW acc AS SELECT c.{pk} AS k FROM changes c")
        return True
    acc_type = str(con.execute("DESCRIBE SELECT * FROM accepted_all").fetchall()[0][1])
    if acc_type == diff.types[diff.primary_key]:
        match = f"c.{pk} IN (SELECT {_A} FROM accepted_all)"
    else:
        pk_type = diff.types[diff.primary_key]
        match = f"c.{pk} IN (SELECT TRY_CAST({_A} AS {pk_type}) FROM accepted_all)"
    # the diff's primary keys are unique, so these keys are too (no DISTINCT needed)
    con.execute(f"CREATE TEMP TABLE acc AS SELECT c.{pk} AS k FROM changes c WHERE {match}")
    return False


def _every_row_in_order(diff: DiffResult, accepted: pa.Table | pa.RecordBatchReader) -> bool:
    """Whether the accepted keys are exactly the diff's rows, in the diff's order: what a run in which
    Salesforce accepted every row gives (outcomes are stored in send order, the diff's). One vectorised
    comparison proves it, where a join of a million keys takes a few tenths of a second; any other
    case (a rejection, a lock retry, removals, keys whose text form is not Arrow's) takes the join."""
    if not isinstance(accepted, pa.Table) or accepted.num_columns != 1:
        return False
    changes = pq.ParquetFile(diff.changes_path)
    if accepted.num_rows != changes.metadata.num_rows:
        return False
    theirs = accepted.column(0)
    ours_type = changes.schema_arrow.field(diff.primary_key).type
    textual = (pa.string(), pa.large_string())
    # integer keys stored as text (row outcomes): Arrow writes integers as DuckDB's CAST does
    cast = ours_type != theirs.type
    if cast and not (pa.types.is_integer(ours_type) and theirs.type in textual):
        return False
    if not (ours_type in textual or pa.types.is_integer(ours_type)):
        return False
    offset = 0
    # a batch at a time: the keys of a 30M-row first run, cast to text at once, would cost ~0.5 GB
    for batch in changes.iter_batches(batch_size=COMPARE_BATCH_ROWS, columns=[diff.primary_key]):
        ours = pc.cast(batch.column(0), theirs.type) if cast else batch.column(0)
        same = pc.equal(ours, theirs.slice(offset, len(ours)))
        if same.null_count or not pc.all(same).as_py():
            return False
        offset += len(ours)
    return True


def _build(
    con: duckdb.DuckDBPyConnection,
    diff: DiffResult,
    base: SnapshotInfo | None,
    accepted: pa.Table | pa.RecordBatchReader,
    pending: PendingSnapshot,
) -> int:
    """Write the pending snapshot and rejected files; return how many sent rows were accepted."""
    pk = q(diff.primary_key)
    con.execute(f"CREATE VIEW changes AS SELECT * FROM read_parquet({_lit(str(diff.changes_path))})")
    every = _accepted_changes(con, diff, accepted)
    # rows that left the model whose record this run was to clear, flag or delete (on_row_removed) stay
    # in the snapshot until Salesforce accepted the removal: a failed or unsent one is retried next run
    retained = _retained_removals(con, diff, pk)
    sent = int(pq.ParquetFile(diff.changes_path).metadata.num_rows)
    n_acc = sent if every else int((con.execute("SELECT count(*) FROM acc").fetchone() or (0,))[0])
    all_accepted = n_acc == sent  # the usual case: no anti join, no semi join below
    rejected_sql = (
        f"SELECT c.{pk} FROM changes c LIMIT 0"
        if all_accepted
        else f"SELECT c.{pk} FROM changes c ANTI JOIN acc ON c.{pk} = acc.k"
    )
    con.execute(f"COPY ({rejected_sql}) TO {_lit(str(pending.rejected_tmp))} (FORMAT parquet)")
    gone = int(pq.ParquetFile(diff.gone_path).metadata.num_rows) - retained
    hashed = sorted(diff.columns)
    unchanged_layout = (
        base is not None
        and base.hash_version == diff.hash_version
        and list(base.columns) == hashed
        and base.types == diff.types
    )
    if base is not None and unchanged_layout and n_acc == 0 and gone == 0:
        try:
            os.link(base.snapshot_path, pending.snapshot_tmp)
        except OSError:  # a filesystem without hard links
            shutil.copyfile(base.snapshot_path, pending.snapshot_tmp)
        return 0

    _write_snapshot(con, diff, base, pending.snapshot_tmp, all_accepted=all_accepted)
    return n_acc


def _write_snapshot(
    con: duckdb.DuckDBPyConnection,
    diff: DiffResult,
    base: SnapshotInfo | None,
    out: Path,
    *,
    all_accepted: bool,
) -> None:
    """Write the next snapshot to ``out``: the rows of view ``changes`` whose key is in table ``acc`` (all
    of them with ``all_accepted``), and the base snapshot's other rows except those that left the model
    (the diff's gone keys, less table ``retained``: removals Salesforce did not accept)."""
    pk = q(diff.primary_key)
    stored = [diff.primary_key, *(c for c in diff.columns if c != diff.primary_key)]
    new_rows = f"SELECT {', '.join(f'c.{q(c)}' for c in stored)} FROM changes c" + (
        "" if all_accepted else f" SEMI JOIN acc ON c.{pk} = acc.k"
    )
    if base is None:
        union = new_rows
    else:
        con.execute(f"CREATE VIEW snap AS SELECT * FROM read_parquet({_lit(str(base.snapshot_path))})")
        con.execute(
            f"CREATE VIEW gone AS SELECT * FROM read_parquet({_lit(str(diff.gone_path))}) g"
            f" WHERE CAST(g.{pk} AS VARCHAR) NOT IN (SELECT k FROM retained)"
        )
        same_key = base.types.get(base.primary_key) == diff.types[diff.primary_key]
        s_key = f"s.{pk}" if same_key else f"CAST(s.{pk} AS VARCHAR)"
        a_key = "acc.k" if same_key else "CAST(acc.k AS VARCHAR)"
        old_cols = []
        for c in stored:
            t = diff.types[c]
            old = base.types.get(c)
            if old == t:
                old_cols.append(f"s.{q(c)}")
            elif old is None:
                old_cols.append(f"CAST(NULL AS {t}) AS {q(c)}")
            else:
                old_cols.append(f"TRY_CAST(s.{q(c)} AS {t}) AS {q(c)}")
        kept = (
            f"SELECT {', '.join(old_cols)} FROM snap s ANTI JOIN gone g ON s.{pk} = g.{pk}"
            f" ANTI JOIN acc ON {s_key} = {a_key}"
        )
        union = f"SELECT * FROM ({kept}) WHERE {pk} IS NOT NULL UNION ALL {new_rows}"
    hashed = sorted(diff.columns)
    hash_expr = f"hash({', '.join(q(c) for c in hashed)})" if hashed else "hash(NULL)"
    con.execute(
        f"COPY (SELECT *, {hash_expr} AS {HASH_COLUMN} FROM ({union})) TO {_lit(str(out))} (FORMAT parquet)"
    )


__all__ = ["AcceptedKeys", "advance_snapshot"]
