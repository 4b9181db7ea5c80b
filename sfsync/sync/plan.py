"""The frozen plan: which rows become which operations, through which API, at what cost in API calls.

``build_plan`` turns a diff (``sfsync.sync.diff``) into the *send table* the loaders read (see
``sfsync.sync.load``), written to ``send.parquet`` beside the diff, plus the rows refused before any write
(``refused.parquet``: e.g. ``NOT_FOUND`` when an ``update`` finds no record for an external id). Nothing
is written to Salesforce here; an ``update`` keyed on an External ID field reads record ids (SOQL).

Send rules per mode (docs/syncing.md#modes):

- insert: new and changed rows each create a record with every non-null mapped field;
- update: new rows write every non-null field, changed rows only the fields that changed (a value that
  changed to null clears the field); rows whose key matches no record are refused with ``NOT_FOUND``;
- upsert: like update, keyed on the object id field, creating records for unknown keys.

A new row never clears a field with its nulls: clearing happens only when a value *changed* to null.
Rows are sorted by the first mapped reference field so children of one parent travel together (fewer
``UNABLE_TO_LOCK_ROW`` in Bulk).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sfsync.config import Api, ApiChoice, Mode, ResolvedSync, Sync
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.automation import RULE_RECORD_OBJECTS
from sfsync.salesforce.describe import ObjectDescribe
from sfsync.sync import lookup, outcomes, plan_related
from sfsync.sync.diff import KIND_COLUMN, DiffResult, q
from sfsync.sync.encode import FieldMap, send_column
from sfsync.sync.numbers import refuse_non_finite
from sfsync.sync.references import MapSpec, RejectedParents, map_specs
from sfsync.sync.target import KEY, PK, Target

if TYPE_CHECKING:
    from sfsync.sync.removals import RemovalPlan

#: Estimated calls of one Bulk job: create, upload, close, about three polls, two result downloads.
BULK_CALLS_PER_JOB = 8
#: Rows of sample shown by ``sfsync plan``.
SAMPLE_ROWS = 5
#: Rough size of the CSV for a byte of the (compressed) send file, to estimate how many Bulk jobs it needs.
PARQUET_TO_CSV_BYTES = 4


@dataclass(frozen=True)
class PlanSettings:
    api: ApiChoice = "auto"
    bulk_threshold: int = 2000  # with auto: at least this many rows to send go through Bulk
    rest_batch_size: int = 200
    bulk_max_bytes: int = 100_000_000
    lookup: lookup.LookupSettings = field(default_factory=lookup.LookupSettings)


@dataclass(frozen=True)
class Plan:
    """Immutable description of what a run will do. Only the loaders act on it."""

    sync: str
    target: Target
    api: Api
    primary_key: str
    rows_read: int
    new: int
    changed: int
    unchanged: int
    resent: int
    to_send: int
    refused: int
    lookup_calls: int
    estimated_calls: int
    send_path: Path
    refused_path: Path
    samples: tuple[dict[str, Any], ...]
    #: How each mapping is written, for people: ``company_id → Account.External_Id__c (lookup)``.
    mappings: tuple[str, ...] = ()
    full_resync: bool = False  # the diff ignored the snapshot: every row is sent
    #: what happens to the records of rows that left the model (on_row_removed; None: nothing)
    removals: RemovalPlan | None = None
    #: which planner diffed (``local`` or ``warehouse``) and how many rows left the source for it
    planner: str = "local"
    rows_out: int | None = None

    @property
    def operations(self) -> dict[str, int]:
        """Rows per operation: ``create`` / ``update`` / ``upsert`` / ``refused``."""
        op = {"insert": "create", "update": "update", "upsert": "upsert"}[self.target.mode]
        out = {op: self.to_send}
        if self.refused:
            out["refused"] = self.refused
        return out

    def rows(self, batch_rows: int = 65_536) -> pa.RecordBatchReader:
        pf = pq.ParquetFile(self.send_path)
        return pa.RecordBatchReader.from_batches(pf.schema_arrow, pf.iter_batches(batch_size=batch_rows))

    def rows_for(self, keys: list[str]) -> list[pa.RecordBatch]:
        """The send rows of these primary keys (to send them again); the filter is pushed into the read."""
        return list(pq.read_table(self.send_path, filters=pc.field(PK).isin(keys)).to_batches())

    def refused_rows(self) -> pa.Table:
        return pq.read_table(self.refused_path)


def _send_expr(mode: Mode, column: str) -> str:
    c, s = q(column), q(send_column(column))
    if mode == "insert":
        return f"({c} IS NOT NULL) AS {s}"
    return f"(coalesce({s}, false) AND NOT ({KIND_COLUMN} = 'new' AND {c} IS NULL)) AS {s}"


def bulk_can_assign(object_name: str, assignment: str) -> bool:
    """Whether Bulk API 2.0 can do what ``assignment_rules`` asks on ``object_name`` (jobs name Case and
    Lead rules only; Account assignment rules run through REST alone)."""
    return assignment == "none" or object_name in RULE_RECORD_OBJECTS


def choose_api(settings: PlanSettings, rows: int) -> Api:
    if settings.api != "auto":
        return settings.api
    return "bulk" if rows >= settings.bulk_threshold else "rest"


def build_plan(
    client: SalesforceClient | None,
    resolved: ResolvedSync,
    diff: DiffResult,
    describe: ObjectDescribe,
    settings: PlanSettings,
    rejected: RejectedParents | None = None,
) -> Plan:
    """Freeze what the run will send. ``client`` is needed for an update keyed on an external id and for
    owners named by username, e-mail or queue; ``rejected`` holds the parent rows syncs rejected earlier
    in this pass (their children are refused, see ``plan_related``)."""
    sync = resolved.sync
    mode = sync.mode
    specs = map_specs(sync, describe)
    maps, key_field = _field_maps(sync, describe, specs)
    send_path = diff.work_dir / "send.parquet"
    refused_path = diff.work_dir / "refused.parquet"

    con = duckdb.connect()
    try:
        _stage_rows(con, diff, sync, maps, key_field)
        non_finite = refuse_non_finite(con, "rows", PK, maps, mode)  # NaN/±Infinity: never sent
        refused = pa.concat_tables([non_finite, _refuse_empty_keys(con, sync, key_field)])
        lookup_calls = 0
        if mode == "update" and key_field is not None and key_field.lower() != "id":
            assert client is not None, "an update keyed on an external id needs a client for the id lookup"
            refused, lookup_calls = _resolve_ids(
                con, client, sync.object, key_field, describe, refused, mode, settings
            )
        refused, owner_calls, maps = _related_records(con, specs, describe, client, mode, refused, rejected)
        lookup_calls += owner_calls
        to_send = _write_send_file(con, describe, maps, send_path)
        samples = _samples(con, maps)
    finally:
        con.close()
    pq.write_table(refused, refused_path)

    api = choose_api(settings, to_send)
    if api == "bulk" and settings.api == "auto" and not bulk_can_assign(describe.name, sync.assignment_rules):
        api = "rest"  # only REST runs Account (territory) assignment rules
    c = diff.counts
    return Plan(
        sync=diff.sync,
        # an update keyed on an external id sends the record ids the lookup found: the key field is Id
        target=Target(
            object=describe.name,
            mode=mode,
            key_field="Id" if mode == "update" and key_field is not None else key_field,
            maps=maps,
            assignment=sync.assignment_rules,
            duplicates=sync.duplicate_rules,
        ),
        api=api,
        primary_key=diff.primary_key,
        rows_read=c.rows,
        new=c.new,
        changed=c.changed,
        unchanged=c.unchanged,
        resent=c.resent,
        to_send=to_send,
        refused=refused.num_rows,
        lookup_calls=lookup_calls,
        estimated_calls=_estimate_calls(settings, api, to_send, send_path) + lookup_calls,
        send_path=send_path,
        refused_path=refused_path,
        samples=tuple(samples),
        mappings=tuple(spec.display for spec in specs),
        full_resync=diff.full_resync,
    )


def _field_maps(
    sync: Sync, describe: ObjectDescribe, specs: list[MapSpec]
) -> tuple[tuple[FieldMap, ...], str | None]:
    """The mappings as the loaders write them (``references.map_specs``: exact API names, lookups), and
    the key field (None for insert)."""
    f = describe.field(sync.object_id.field) if sync.object_id is not None else None
    key_field = (f.name if f is not None else sync.object_id.field) if sync.object_id is not None else None
    return tuple(s.map for s in specs), key_field if sync.mode != "insert" else None


def _related_records(
    con: duckdb.DuckDBPyConnection,
    specs: list[MapSpec],
    describe: ObjectDescribe,
    client: SalesforceClient | None,
    mode: Mode,
    refused: pa.Table,
    rejected: RejectedParents | None,
) -> tuple[pa.Table, int, tuple[FieldMap, ...]]:
    """Resolve record types and owners, refuse children of parents rejected in this pass, and mark the
    lookups some row clears (``plan_related``): the refusals so far, API calls spent, the maps to send."""
    more, calls = plan_related.resolve_sfsync_references(con, specs, describe, client, mode)
    more += plan_related.refuse_children_of_rejected(con, specs, rejected, mode)
    maps = tuple(s.map for s in plan_related.mark_clears(con, specs))
    return pa.concat_tables([refused, *more]), calls, maps


def _stage_rows(
    con: duckdb.DuckDBPyConnection,
    diff: DiffResult,
    sync: Sync,
    maps: tuple[FieldMap, ...],
    key_field: str | None,
) -> None:
    """Table ``rows``: the diff's rows to send as the send table (primary key, record key, mapped columns,
    send flags per mode) plus the diff's row kind."""
    key_col = sync.object_id.column if sync.object_id is not None else None
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW changes AS SELECT * FROM read_parquet('{diff.changes_path}')")
    key_sql = f"CAST({q(key_col)} AS VARCHAR)" if key_field and key_col else "NULL::VARCHAR"
    cols = ", ".join(q(m.column) for m in maps)
    sends = ", ".join(_send_expr(sync.mode, m.column) for m in maps)
    con.execute(
        f"CREATE TABLE rows AS SELECT CAST({q(diff.primary_key)} AS VARCHAR) AS {PK}, {key_sql} AS {KEY},"
        f" {cols}, {sends}, {KIND_COLUMN} FROM changes"
    )


def _refuse_empty_keys(con: duckdb.DuckDBPyConnection, sync: Sync, key_field: str | None) -> pa.Table:
    """Take rows whose object id is empty out of ``rows``; their refusals (they can match no record)."""
    refused = outcomes.empty()
    if key_field is None:
        return refused
    keys = con.sql(f"SELECT {PK} FROM rows WHERE {KEY} IS NULL OR {KEY} = ''").to_arrow_table()
    if keys is not None and keys.num_rows:
        key_col = sync.object_id.column if sync.object_id is not None else None
        refused = outcomes.rejections(
            keys.column(0).to_pylist(),
            sync.mode,
            "NOT_FOUND" if sync.mode == "update" else "REQUIRED_FIELD_MISSING",
            f"object id column `{key_col}` is empty, so the row matches no {sync.object} record",
            key_field,
        )
        con.execute(f"DELETE FROM rows WHERE {KEY} IS NULL OR {KEY} = ''")
    return refused


def _write_send_file(
    con: duckdb.DuckDBPyConnection, describe: ObjectDescribe, maps: tuple[FieldMap, ...], send_path: Path
) -> int:
    """Write ``rows`` (without the row kind) to the send file, children of one parent together; the count."""
    order = _parent_order(describe, maps)
    con.execute(
        f"COPY (SELECT * EXCLUDE ({KIND_COLUMN}) FROM rows {order}) TO '{send_path}' (FORMAT parquet)"
    )
    return int((con.execute("SELECT count(*) FROM rows").fetchone() or (0,))[0])


def _estimate_calls(settings: PlanSettings, api: Api, to_send: int, send_path: Path) -> int:
    """API calls the send will spend (lookups not included)."""
    if to_send == 0:
        return 0
    if api == "rest":
        return math.ceil(to_send / settings.rest_batch_size)
    approx_bytes = send_path.stat().st_size * PARQUET_TO_CSV_BYTES
    return BULK_CALLS_PER_JOB * max(1, math.ceil(approx_bytes / settings.bulk_max_bytes))


def _resolve_ids(
    con: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    object_name: str,
    key_field: str,
    describe: ObjectDescribe,
    refused: pa.Table,
    mode: Mode,
    settings: PlanSettings,
) -> tuple[pa.Table, int]:
    """Replace external id keys by record ids; refuse keys matching no record (or several)."""
    keys = [str(k) for (k,) in con.execute(f"SELECT DISTINCT {KEY} FROM rows").fetchall()]
    f = describe.field(key_field)
    case_sensitive = bool(f is not None and f.raw.get("caseSensitive"))
    before = client.stats.calls
    found = lookup.lookup_ids(
        client, object_name, key_field, keys, case_sensitive=case_sensitive, settings=settings.lookup
    )
    calls = client.stats.calls - before
    con.register("found", found)
    missing = con.execute(
        f"SELECT r.{PK}, coalesce(f.matches, 0) FROM rows r LEFT JOIN found f ON f.key = r.{KEY}"
        " WHERE coalesce(f.matches, 0) <> 1"
    ).fetchall()
    parts = [refused]
    none = [pk for pk, n in missing if n == 0]
    many = [pk for pk, n in missing if n > 1]
    if none:
        parts.append(
            outcomes.rejections(
                none,
                mode,
                "NOT_FOUND",
                f"no {object_name} record has this {key_field}; update mode creates nothing",
                key_field,
            )
        )
    if many:
        parts.append(
            outcomes.rejections(
                many,
                mode,
                "DUPLICATE_EXTERNAL_ID",
                f"several {object_name} records have this {key_field}",
                key_field,
            )
        )
    con.execute(
        f"CREATE TABLE resolved AS SELECT r.* REPLACE (f.record_id AS {KEY}) FROM rows r"
        " JOIN found f ON f.key = r.__key WHERE f.matches = 1"
    )
    con.execute("DROP TABLE rows")
    con.execute("ALTER TABLE resolved RENAME TO rows")
    con.unregister("found")
    return pa.concat_tables(parts), calls


def _parent_order(describe: ObjectDescribe, maps: tuple[FieldMap, ...]) -> str:
    for m in maps:
        f = describe.field(m.lookup.reference_field if m.lookup is not None else m.field)
        if f is not None and f.type == "reference":
            return f"ORDER BY {q(m.column)} NULLS LAST, {PK}"
    return ""


def _samples(con: duckdb.DuckDBPyConnection, maps: tuple[FieldMap, ...]) -> list[dict[str, Any]]:
    rows = con.execute(f"SELECT * FROM rows ORDER BY {PK} LIMIT {SAMPLE_ROWS}").fetchall()
    names = [d[0] for d in con.description or []]
    out = []
    for row in rows:
        rec = dict(zip(names, row, strict=True))
        fields = {
            (
                m.lookup.reference_field if m.lookup is not None and rec[m.column] in (None, "") else m.field
            ): rec[m.column]
            for m in maps
            if rec.get(send_column(m.column))
        }
        out.append({"primary_key": rec[PK], "kind": rec[KIND_COLUMN], "key": rec[KEY], "fields": fields})
    return out
