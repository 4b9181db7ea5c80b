"""Rows that leave the model: clear, flag or delete the records sfsync wrote for them (``on_row_removed``).

The diff lists the keys of the snapshot that are no longer in the model (``DiffResult.gone_path``; the
warehouse planner keeps them in the warehouse and :func:`plan_removals` reads them through ``gone_rows``,
:mod:`sfsync.sync.warehouse.gone`).
With ``on_row_removed`` other than ``keep`` a run turns them into a *removal plan*:

1. **guard** (:func:`guard`): more than ``max_percent`` of the last snapshot's rows, more than
   ``max_rows`` rows, or a model that came back empty stops the run before anything is written
   (:class:`~sfsync.errors.RemovalGuardError`). A model query that fails never gets this far.
2. **which records** (:func:`removed_rows`): only records sfsync knows it wrote or matched: the row's
   object id as the last snapshot holds it (the value Salesforce accepted), turned into a record id
   directly (object id field ``Id``) or through a SOQL look-up of exactly those external ids. No query
   ever looks for records by any other condition. A key that matches no record has nothing to remove;
   one that matches several is refused (``DUPLICATE_EXTERNAL_ID``) and retried next run.
3. **send**: clearing and flagging are updates by Id (sObject Collections or a Bulk ``update`` job);
   deleting is ``DELETE /composite/sobjects?ids=…`` or a Bulk ``delete`` job (never ``hardDelete``:
   records go to the recycle bin). The loaders journal them like any other write, so a killed run is
   recovered the same way; a removal whose answer was lost is simply sent again (a delete of a record in
   the recycle bin answers ``ENTITY_IS_DELETED``, which counts as deleted, so nothing is deleted twice).
4. **snapshot**: the keys planned for removal are written to ``DiffResult.removals_path`` before the first
   call; ``sfsync.sync.snapshot.advance_snapshot`` drops those Salesforce accepted and keeps the others,
   so an unsent or rejected removal is retried by the next run and none is lost.

Row results name removals by their own operations: ``cleared``, ``flagged``, ``deleted``
(``sfsync.sync.outcomes.REMOVAL_DONE``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sfsync.config import Api, OnRowRemoved, RemovalAction, RemovalMode, ResolvedSync
from sfsync.config.destinations import SalesforceSettings
from sfsync.config.mappings import ConstantValue
from sfsync.errors import RemovalGuardError, StateError
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.describe import ObjectDescribe
from sfsync.state.store import StateStore
from sfsync.sync import lookup, outcomes
from sfsync.sync.diff import DiffResult, _lit, q
from sfsync.sync.encode import FieldMap, send_column
from sfsync.sync.inflight import RestJournal, settle_vanished_job
from sfsync.sync.load import BulkWatch, load_bulk
from sfsync.sync.load_rest import load_rest
from sfsync.sync.plan import BULK_CALLS_PER_JOB, PlanSettings, choose_api
from sfsync.sync.reconcile import ReconcileSettings
from sfsync.sync.removals_check import clear_fields, exact_field
from sfsync.sync.target import KEY, PK, LoadStats, OutcomeSink, Target

#: The loaders' mode for each ``on_row_removed`` action (``keep`` has none: nothing is sent).
REMOVAL_MODES: dict[RemovalAction, RemovalMode] = {"clear": "clear", "set": "flag", "delete": "delete"}
#: Primary keys of removed rows that ``sfsync plan`` shows.
SAMPLE_KEYS = 5
#: Records a REST delete or update call takes at most (sObject Collections).
REST_RECORDS_PER_CALL = 200
#: Rows a Bulk job of removals holds at most for the call estimate (the loader cuts jobs by bytes).
BULK_ROWS_PER_JOB_ESTIMATE = 150_000
_VALUE = "__removed_"
#: Reads the rows that left the model: (object id column, at most this many rows or None for all) →
#: ``__pk`` and ``__key`` (see :func:`removed_rows`).
GoneRows = Callable[[str, int | None], pa.Table]


@dataclass(frozen=True)
class RemovalPlan:
    """What a run does to the records of rows that left the model. Only the loaders act on it."""

    sync: str
    action: RemovalAction
    target: Target
    api: Api
    #: rows that left the model since the last snapshot
    gone: int
    #: rows of the last snapshot (the guard's base)
    previous_rows: int
    #: records to clear, flag or delete (found by their ids)
    to_send: int
    #: rows refused before any call (e.g. several records share the external id)
    refused: int
    #: rows whose record sfsync cannot find (deleted by someone, or never known): nothing to remove
    nothing_to_remove: int
    lookup_calls: int
    estimated_calls: int
    samples: tuple[str, ...]
    #: why the guard stops the run (None: the removals may go)
    blocked: str | None
    send_path: Path
    early_path: Path

    @property
    def operations(self) -> dict[str, int]:
        return {self.target.mode: self.to_send}

    def rows(self, batch_rows: int = 65_536) -> pa.RecordBatchReader:
        pf = pq.ParquetFile(self.send_path)
        return pa.RecordBatchReader.from_batches(pf.schema_arrow, pf.iter_batches(batch_size=batch_rows))

    def rows_for(self, keys: list[str]) -> list[pa.RecordBatch]:
        """The send rows of these primary keys (a Bulk job's rows sent again)."""
        table: pa.Table = pq.read_table(self.send_path, filters=pc.field(PK).isin(keys))
        batches: list[pa.RecordBatch] = table.to_batches()
        return batches

    def early_outcomes(self) -> pa.Table:
        """Outcomes known before any call: refusals, and rows with no record to remove (done)."""
        if not self.early_path.exists():
            return outcomes.empty()
        return pq.read_table(self.early_path, schema=outcomes.OUTCOME_SCHEMA)


def guard(setting: OnRowRemoved, gone: int, rows: int, previous_rows: int) -> str | None:
    """Why removing ``gone`` rows' records must not happen (None: it may)."""
    if gone == 0:
        return None
    if rows == 0:
        return (
            f"the model returned no rows, so all {gone:,} row(s) of the last run would be removed; "
            "an empty model never removes anything (check the model's query and source)"
        )
    share = 100.0 * gone / previous_rows if previous_rows else 100.0
    if share > setting.max_percent:
        return (
            f"{gone:,} of the {previous_rows:,} row(s) of the last run left the model ({share:.1f}%), more "
            f"than on_row_removed.max_percent ({setting.max_percent:g}%)"
        )
    if gone > setting.max_rows:
        return f"{gone:,} row(s) left the model, more than on_row_removed.max_rows ({setting.max_rows:,})"
    return None


def check_guard(resolved: ResolvedSync, plan: RemovalPlan) -> None:
    """Raise :class:`RemovalGuardError` when the guard stops the run (before anything is written)."""
    if plan.blocked is None:
        return
    verb = {"clear": "clear", "set": "flag", "delete": "delete"}[plan.action]
    raise RemovalGuardError(
        f"sync `{resolved.name}` stopped before writing anything: it would {verb} the records of "
        f"{plan.gone:,} row(s) that left its model: {plan.blocked}",
        sync=resolved.name,
        removed=plan.gone,
        hint="if these rows really left, raise on_row_removed.max_percent / max_rows for one run "
        "(docs/syncing.md#rows-that-leave-the-model); otherwise fix the model: nothing was sent",
    )


def removed_rows(store: StateStore, diff: DiffResult, key_column: str) -> pa.Table:
    """The rows that left the model: ``__pk`` (text) and ``__key``, the object id value the last snapshot
    holds for the row (null when the snapshot does not hold the column)."""
    base = store.snapshots.current(diff.sync)
    if base is None or base.generation != diff.base_generation:
        raise StateError(
            f"the snapshot of sync `{diff.sync}` moved since diff {diff.work_dir.name} was made",
            hint="run the sync again: it diffs afresh",
        )
    known = key_column == base.primary_key or key_column in base.columns
    key_sql = f"CAST(s.{q(key_column)} AS VARCHAR)" if known else "CAST(NULL AS VARCHAR)"
    pk = q(base.primary_key)
    con = duckdb.connect()
    try:
        table = con.sql(
            f"SELECT CAST(g.{q(diff.primary_key)} AS VARCHAR) AS {PK}, {key_sql} AS {KEY}"
            f" FROM read_parquet({_lit(str(diff.gone_path))}) g"
            f" JOIN read_parquet({_lit(str(base.snapshot_path))}) s"
            f" ON CAST(s.{pk} AS VARCHAR) = CAST(g.{q(diff.primary_key)} AS VARCHAR)"
            f" ORDER BY {PK}"
        ).to_arrow_table()
    finally:
        con.close()
    assert table is not None
    return table


def _value_column(value: ConstantValue | None, n: int) -> pa.Array:
    return pa.nulls(n, pa.string()) if value is None else pa.array([value] * n)


def plan_removals(
    client: SalesforceClient | None,
    store: StateStore,
    resolved: ResolvedSync,
    diff: DiffResult,
    describe: ObjectDescribe,
    settings: PlanSettings,
    gone_rows: GoneRows | None = None,
) -> RemovalPlan | None:
    """The removals of this run (None when rows that leave keep their records, or none left).

    ``gone_rows`` reads the rows that left (default: :func:`removed_rows`, from the local diff; the
    warehouse planner reads them out of the warehouse). When the guard blocks, nothing is looked up and
    no file is written: the plan only says why."""
    setting = resolved.sync.on_row_removed
    gone = diff.counts.gone
    if not setting.removes or gone == 0 or resolved.sync.object_id is None:
        return None
    previous = diff.counts.previous_rows or 0
    blocked = guard(setting, gone, diff.counts.rows, previous)
    mode = REMOVAL_MODES[setting.action]
    work = diff.work_dir / "removals"
    read: GoneRows = gone_rows or (lambda column, limit: removed_rows(store, diff, column))
    # a blocked plan only shows samples: the rows themselves need not leave the warehouse
    rows = read(resolved.sync.object_id.column, SAMPLE_KEYS if blocked is not None else None)
    samples = tuple(str(k) for k in rows.column(PK).slice(0, SAMPLE_KEYS).to_pylist())
    maps, values = _maps(resolved, describe, setting)
    target = Target(object=describe.name, mode=mode, key_field="Id", maps=maps)
    if blocked is not None:
        api = choose_api(settings, gone)
        return RemovalPlan(
            sync=diff.sync,
            action=setting.action,
            target=target,
            api=api,
            gone=gone,
            previous_rows=previous,
            to_send=gone,
            refused=0,
            nothing_to_remove=0,
            lookup_calls=0,
            estimated_calls=_estimate_calls(api, gone),
            samples=samples,
            blocked=blocked,
            send_path=work / "send.parquet",
            early_path=work / "early.parquet",
        )
    known, early, lookup_calls = _record_ids(client, resolved, describe, rows, mode)
    n = known.num_rows
    send = pa.table(
        {
            PK: known.column(PK),
            KEY: known.column(KEY),
            **{m.column: _value_column(v, n) for m, v in zip(maps, values, strict=True)},
            **{send_column(m.column): pa.array([True] * n) for m in maps},
        }
    )
    work.mkdir(parents=True, exist_ok=True)
    pq.write_table(send, work / "send.parquet")
    pq.write_table(early, work / "early.parquet")
    # before the first call: the snapshot keeps every one of these rows until its removal is accepted
    if diff.gone_path.exists():
        pq.write_table(pq.read_table(diff.gone_path), diff.removals_path)
    else:  # the warehouse planner's gone keys are in the warehouse: these are all of them, as text
        pq.write_table(pa.table({diff.primary_key: rows.column(PK)}), diff.removals_path)
    refused = int(pc.sum(pc.invert(early.column("success"))).as_py() or 0) if early.num_rows else 0
    api = choose_api(settings, n)
    return RemovalPlan(
        sync=diff.sync,
        action=setting.action,
        target=target,
        api=api,
        gone=gone,
        previous_rows=previous,
        to_send=n,
        refused=refused,
        nothing_to_remove=early.num_rows - refused,
        lookup_calls=lookup_calls,
        estimated_calls=_estimate_calls(api, n) + lookup_calls,
        samples=samples,
        blocked=None,
        send_path=work / "send.parquet",
        early_path=work / "early.parquet",
    )


def _maps(
    resolved: ResolvedSync, describe: ObjectDescribe, setting: OnRowRemoved
) -> tuple[tuple[FieldMap, ...], list[ConstantValue | None]]:
    """The fields each removal writes (none for delete) and the value of each (None: cleared)."""
    if setting.action == "clear":
        fields = clear_fields(resolved.sync, describe)
        return tuple(FieldMap(f"{_VALUE}{i}", f) for i, f in enumerate(fields)), [None] * len(fields)
    if setting.action == "set":
        items = list((setting.values or {}).items())
        maps = tuple(FieldMap(f"{_VALUE}{i}", exact_field(describe, f)) for i, (f, _) in enumerate(items))
        return maps, [v for _, v in items]
    return (), []


def _record_ids(
    client: SalesforceClient | None,
    resolved: ResolvedSync,
    describe: ObjectDescribe,
    rows: pa.Table,
    mode: RemovalMode,
) -> tuple[pa.Table, pa.Table, int]:
    """Rows with a record id to send (``__pk``, ``__key`` = Id), outcomes decided without a call, calls."""
    assert resolved.sync.object_id is not None
    f = describe.field(resolved.sync.object_id.field)
    key_field = f.name if f is not None else resolved.sync.object_id.field
    has_key = pc.fill_null(pc.not_equal(rows.column(KEY), ""), False)
    unknown = rows.filter(pc.invert(has_key)).column(PK).to_pylist()
    rows = rows.filter(has_key)
    nothing = (
        f"sfsync knows no {describe.name} record for this row (no object id was synced): nothing removed"
    )
    early = [_done(unknown, mode, nothing)]
    if key_field.lower() == "id":
        return rows, pa.concat_tables(early), 0
    assert client is not None, "removals keyed on an external id need a client for the id look-up"
    before = client.stats.calls
    found = lookup.lookup_ids(
        client,
        describe.name,
        key_field,
        [str(k) for k in rows.column(KEY).to_pylist()],
        case_sensitive=bool(f is not None and f.raw.get("caseSensitive")),
    )
    calls = client.stats.calls - before
    con = duckdb.connect()
    try:
        con.register("rows_", rows)
        con.register("found", found)
        case = "" if f is not None and f.raw.get("caseSensitive") else "lower"
        joined = con.sql(
            f"SELECT r.{PK}, f.record_id AS {KEY}, coalesce(f.matches, 0) AS matches FROM rows_ r"
            f" LEFT JOIN found f ON {case}(f.key) = {case}(r.{KEY}) ORDER BY r.{PK}"
        ).to_arrow_table()
    finally:
        con.close()
    assert joined is not None
    matches = joined.column("matches")
    none = joined.filter(pc.equal(matches, 0)).column(PK).to_pylist()
    many = joined.filter(pc.greater(matches, 1)).column(PK).to_pylist()
    early.append(
        _done(none, mode, f"no {describe.name} record has this {key_field} any more: nothing to remove")
    )
    if many:
        early.append(
            outcomes.rejections(
                many,
                mode,
                "DUPLICATE_EXTERNAL_ID",
                f"several {describe.name} records have this {key_field}: which one to remove is unknown",
                key_field,
            )
        )
    known = joined.filter(pc.equal(matches, 1)).select([PK, KEY])
    return known, pa.concat_tables(early), calls


def _done(keys: list[str], mode: RemovalMode, message: str) -> pa.Table:
    """Accepted outcomes for rows with nothing to remove (they leave the snapshot)."""
    n = len(keys)
    return pa.table(
        [
            pa.array(keys, pa.string()),
            [True] * n,
            [outcomes.done_operation(mode, None)] * n,
            pa.nulls(n, pa.string()),
            pa.nulls(n, pa.string()),
            [message] * n,
            pa.nulls(n, pa.string()),
        ],
        schema=outcomes.OUTCOME_SCHEMA,
    )


def send_removals(
    client: SalesforceClient,
    store: StateStore,
    removals: RemovalPlan,
    sink: OutcomeSink,
    *,
    run_id: int,
    work_dir: Path,
    settings: SalesforceSettings,
    watch: BulkWatch,
    reconcile: ReconcileSettings,
) -> LoadStats:
    """Store the outcomes known without a call, then send the removals through the loaders: journaled and
    stored like any other write, in their own work directories beside the diff's (``work_dir``)."""
    early = removals.early_outcomes()
    if early.num_rows:
        sink(early, None)
    if not removals.to_send:
        return LoadStats()
    target = removals.target
    journal = RestJournal(store, client, run_id, target, work_dir / "rest-removals", reconcile, tag="rm")
    if removals.api == "rest":
        load_rest(client, target, removals.rows(), sink, journal=journal)
        return LoadStats()

    def vanished(job_id: str, keys_path: Path) -> tuple[pa.Table, str | None]:
        entry = store.journal_entry(job_id)
        if entry is None:  # never journaled: never uploaded to, so never processed
            raise StateError(f"Bulk job {job_id} vanished before it was journaled")
        return settle_vanished_job(store, client, entry, target, keys_path, reconcile)

    return load_bulk(
        client,
        target,
        removals.rows(),
        sink,
        store=store,
        run_id=run_id,
        work_dir=work_dir / "bulk-removals",
        max_bytes=settings.bulk_max_bytes,
        reload=removals.rows_for,
        lock_retries=settings.bulk_lock_retries,
        watch=watch,
        vanished=vanished,
        rest_journal=journal,
    )


def _estimate_calls(api: Api, rows: int) -> int:
    if rows == 0:
        return 0
    if api == "rest":
        return math.ceil(rows / REST_RECORDS_PER_CALL)
    return BULK_CALLS_PER_JOB * max(1, math.ceil(rows / BULK_ROWS_PER_JOB_ESTIMATE))


__all__ = [
    "REMOVAL_MODES",
    "GoneRows",
    "RemovalPlan",
    "check_guard",
    "guard",
    "plan_removals",
    "removed_rows",
    "send_removals",
]
