"""The loaders: send a plan's rows to Salesforce and turn every answer into a per-row outcome.

Rows arrive as Arrow batches of the *send table* built by the planner:

``__pk``         the model's primary key as text (how outcomes are reported)
``__key``        the record key: ``Id`` (update) or the external id value (upsert); absent for insert
<column>         each mapped model column
``__send__<c>``  whether column ``c``'s field is written for that row (see ``sfsync.sync.encode``)

``load_rest`` uses sObject Collections (the client splits into calls of 200 and runs several at once).
``load_bulk`` writes CSV chunks of at most ``max_bytes`` to the run's work directory, journals every job
id before uploading to it, runs several jobs at once, and maps Bulk's unordered result rows back to
primary keys by their exact CSV cells (identical rows are interchangeable, so a multiset match is exact).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sfsync.errors import SalesforceError
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.bulk import BulkJob, IngestSpec
from sfsync.salesforce.results import RecordResult
from sfsync.state import JournalState, StateStore
from sfsync.sync import outcomes
from sfsync.sync.encode import FieldMap, chunk_csv, csv_fields, encode_json_records, format_text, send_column

log = logging.getLogger(__name__)

PK = "__pk"
#: The per-row error Bulk jobs are retried for within a run (lock contention clears by itself).
LOCK_ERROR = "UNABLE_TO_LOCK_ROW"
KEY = "__key"
_SEP = "\x1f"

OutcomeSink = Callable[[pa.Table, str | None], None]
"""Receives each table of outcomes and, for Bulk, the job id they were collected from."""


@dataclass(frozen=True)
class Target:
    """Where and how rows are written: object, mode, key field and field mappings."""

    object: str
    mode: str  # insert | update | upsert
    key_field: str | None  # "Id" for update, the external id (or Id) for upsert, None for insert
    maps: tuple[FieldMap, ...]

    @property
    def key(self) -> FieldMap | None:
        return FieldMap(KEY, self.key_field) if self.key_field else None

    @property
    def bulk_operation(self) -> str:
        return self.mode

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "mode": self.mode,
            "key_field": self.key_field,
            "maps": [[m.column, m.field] for m in self.maps],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        return cls(
            object=data["object"],
            mode=data["mode"],
            key_field=data["key_field"],
            maps=tuple(FieldMap(c, f) for c, f in data["maps"]),
        )


TARGET_FILE = "target.json"


@dataclass
class LoadStats:
    jobs: list[str] = field(default_factory=list)
    failed_jobs: list[str] = field(default_factory=list)  # "job id: errorMessage"


def _rebatch(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    size = 0
    for b in batches:
        pending.append(b)
        size += b.num_rows
        if size >= rows:
            table = pa.Table.from_batches(pending)
            for start in range(0, table.num_rows, rows):
                part = table.slice(start, rows)
                if part.num_rows == rows:
                    yield part
                else:
                    pending, size = list(part.to_batches()), part.num_rows
                    break
            else:
                pending, size = [], 0
    if size:
        yield pa.Table.from_batches(pending)


def load_rest(
    client: SalesforceClient,
    target: Target,
    batches: Iterable[pa.RecordBatch],
    sink: OutcomeSink,
    *,
    batch_rows: int = 2000,
) -> LoadStats:
    """Send rows through sObject Collections, ``batch_rows`` at a time (outcomes stored after each)."""
    for table in _rebatch(batches, batch_rows):
        keys = [str(k) for k in table.column(PK).to_pylist()]
        records = encode_json_records(table, target.maps, target.key)

        def chunk_done(results: list[RecordResult], keys: list[str] = keys) -> None:
            # stored per chunk, so rows accepted before a LimitError/AuthError are never lost
            chunk_keys = [keys[r.index] for r in results]
            sink(outcomes.from_record_results(chunk_keys, results, target.mode), None)

        if target.mode == "insert":
            client.create(target.object, records, on_chunk=chunk_done)
        elif target.mode == "update":
            client.update(target.object, records, on_chunk=chunk_done)
        else:
            assert target.key_field is not None
            client.upsert(target.object, target.key_field, records, on_chunk=chunk_done)
    return LoadStats()


# ---- Bulk API 2.0 --------------------------------------------------------------------------------------


def _cells(table: pa.Table, target: Target) -> list[pa.ChunkedArray]:
    """The CSV cell text of each written column, exactly as uploaded (empty string for an empty cell)."""
    from sfsync.sync.encode import BULK_NULL

    out: list[pa.ChunkedArray] = []
    if target.key is not None:
        out.append(pc.fill_null(format_text(table.column(KEY)), ""))
    for fm in target.maps:
        text = format_text(table.column(fm.column))
        blank = pc.fill_null(pc.or_kleene(pc.is_null(text), pc.equal(text, "")), True)
        cell = pc.if_else(blank, BULK_NULL, text)
        send = pc.fill_null(table.column(send_column(fm.column)), False)
        out.append(pc.if_else(send, cell, ""))
    return out


def _signature(columns: list[pa.ChunkedArray] | list[pa.Array]) -> pa.ChunkedArray | pa.Array:
    if len(columns) == 1:
        return columns[0]
    return pc.binary_join_element_wise(*columns, _SEP)


@dataclass(frozen=True)
class Chunk:
    index: int
    csv_path: Path
    keys_path: Path  # Parquet: __pk, __sig (CSV cells joined), one row per CSV row
    rows: int


def write_chunks(
    target: Target, batches: Iterable[pa.RecordBatch], work_dir: Path, max_bytes: int
) -> list[Chunk]:
    """Write the CSV of every job and the key file that maps its rows back to primary keys."""
    work_dir.mkdir(parents=True, exist_ok=True)
    # what crash recovery needs to read these jobs' results: the object, mode, key and mappings
    (work_dir / TARGET_FILE).write_text(json.dumps(target.to_json()))
    chunks: list[Chunk] = []
    for i, (body, src) in enumerate(chunk_csv(iter(batches), target.maps, target.key, max_bytes)):
        table = pa.Table.from_batches(src)
        csv_path = work_dir / f"job-{i:04d}.csv"
        keys_path = work_dir / f"job-{i:04d}.keys.parquet"
        csv_path.write_bytes(body)
        pq.write_table(
            pa.table(
                {"__pk": pc.cast(table.column(PK), pa.string()), "__sig": _signature(_cells(table, target))}
            ),
            keys_path,
        )
        chunks.append(Chunk(i, csv_path, keys_path, table.num_rows))
    return chunks


def match_results(keys: Path | pa.Table, results: pa.Table, columns: list[str]) -> pa.Table:
    """Attach ``__pk`` to Bulk result rows by their exact CSV cells (multiset match).

    ``keys`` is a chunk's key file (or its table). When the results come back in upload order (what
    Salesforce usually does for a job's rows) one vectorised comparison proves it and the keys are taken
    as they are; otherwise a DuckDB join pairs the n-th result row of each signature with its n-th key.
    """
    if results.num_rows == 0:
        return results.append_column("__pk", pa.array([], pa.string()))
    sig = _signature([results.column(c) for c in columns])
    key_table = pq.read_table(keys) if isinstance(keys, Path) else keys
    in_order = _in_upload_order(key_table, sig)
    if in_order is not None:
        return results.append_column("__pk", in_order)
    res = pa.table({"__sig": sig, "__n": pa.array(range(results.num_rows), pa.int64())})
    con = duckdb.connect()
    try:
        con.register("res", res)
        con.register("keys", key_table.select(["__pk", "__sig"]))
        # one primary key per result row, in result order (null when no uploaded row matches)
        matched = con.sql(
            "WITH k AS (SELECT __pk, __sig, row_number() OVER (PARTITION BY __sig ORDER BY __pk) AS rn"
            " FROM keys),"
            " r AS (SELECT __n, __sig, row_number() OVER (PARTITION BY __sig ORDER BY __n) AS rn FROM res)"
            " SELECT k.__pk FROM r LEFT JOIN k USING (__sig, rn) ORDER BY r.__n"
        ).to_arrow_table()
    finally:
        con.close()
    assert matched is not None
    return results.append_column("__pk", pc.cast(matched.column(0), pa.string()))


def _in_upload_order(keys: pa.Table, sig: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | None:
    """The keys of result rows that are exactly the uploaded rows in upload order, else None."""
    if keys.num_rows != len(sig):
        return None
    same = pc.equal(keys.column("__sig"), sig)
    if same.null_count or not pc.all(same).as_py():
        return None
    return pc.cast(keys.column("__pk"), pa.string())


def collect_job(client: SalesforceClient, job: BulkJob, target: Target, chunk_keys: Path) -> pa.Table:
    """All outcomes of a finished job: successes, failures and (as failures) rows never processed."""
    columns = csv_fields(target.maps, target.key)
    parts: list[pa.Table] = []
    key_table = pq.read_table(chunk_keys)
    ok = client.bulk.results(job.id, "successful")
    if ok.num_rows:
        ok = match_results(key_table, ok, columns)
        n = ok.num_rows
        if target.mode == "upsert" and "sf__Created" in ok.column_names:
            created = pc.fill_null(pc.equal(pc.utf8_lower(ok.column("sf__Created")), "true"), False)
            ops: Any = pc.if_else(created, "created", "updated")
        else:
            ops = pa.repeat(outcomes.done_operation(target.mode, target.mode == "insert"), n)
        none = pa.nulls(n, pa.string())
        parts.append(
            pa.table(
                [ok.column("__pk"), pa.repeat(True, n), ops, ok.column("sf__Id"), none, none, none],
                schema=outcomes.OUTCOME_SCHEMA,
            )
        )
    bad = client.bulk.results(job.id, "failed")
    if bad.num_rows:
        bad = match_results(key_table, bad, columns)
        parsed = [outcomes.parse_bulk_error(e) for e in bad.column("sf__Error").to_pylist()]
        n = bad.num_rows
        ids = [i or None for i in bad.column("sf__Id").to_pylist()]
        parts.append(
            pa.table(
                [
                    bad.column("__pk"),
                    [False] * n,
                    [outcomes.ATTEMPTED[target.mode]] * n,
                    ids,
                    [p[0] for p in parsed],
                    [p[1] for p in parsed],
                    [p[2] for p in parsed],
                ],
                schema=outcomes.OUTCOME_SCHEMA,
            )
        )
    keys = key_table.column("__pk")
    seen_rows = sum(p.num_rows for p in parts)
    if seen_rows == len(keys) and all(p.column("primary_key").null_count == 0 for p in parts):
        # every uploaded row has an outcome (a multiset match assigns each key at most once)
        unseen = keys.slice(0, 0)
    else:
        seen = pa.concat_arrays([p.column("primary_key").combine_chunks() for p in parts]) if parts else None
        unseen = keys if seen is None else keys.filter(pc.invert(pc.is_in(keys, value_set=seen)))
    missing = unseen.to_pylist()
    if missing:
        why = f"job {job.id} ended {job.state}" + (f": {job.error_message}" if job.error_message else "")
        parts.append(
            outcomes.rejections(
                missing,
                target.mode,
                "NOT_PROCESSED",
                f"Salesforce did not process this row ({why}); it is sent again next run",
            )
        )
    out = pa.concat_tables(parts) if parts else outcomes.empty()
    # a result row that matched no key (should not happen) cannot be stored against a primary key
    return out.filter(pc.is_valid(out.column("primary_key")))


def load_bulk(
    client: SalesforceClient,
    target: Target,
    batches: Iterable[pa.RecordBatch],
    sink: OutcomeSink,
    *,
    store: StateStore,
    run_id: int,
    work_dir: Path,
    max_bytes: int,
    reload: Callable[[list[str]], Iterable[pa.RecordBatch]] | None = None,
    lock_retries: int = 0,
) -> LoadStats:
    """Send rows through Bulk API 2.0 jobs (several at once), journaled for crash recovery.

    Rows that fail only with ``UNABLE_TO_LOCK_ROW`` are sent again in new jobs, up to ``lock_retries``
    more rounds (``reload(keys)`` gives their rows back); what still fails is stored as rejected.
    """
    stats = LoadStats()
    for attempt in range(lock_retries + 1):
        last = attempt == lock_retries or reload is None
        round_dir = work_dir if attempt == 0 else work_dir / f"retry-{attempt}"
        retry = _bulk_round(client, target, batches, sink, store, run_id, round_dir, max_bytes, stats, last)
        if not retry:
            break
        log.info(
            "%d row(s) of %s hit UNABLE_TO_LOCK_ROW; sending them again (round %d of %d)",
            len(retry),
            target.object,
            attempt + 1,
            lock_retries,
        )
        assert reload is not None
        batches = reload(retry)
    return stats


def _bulk_round(
    client: SalesforceClient,
    target: Target,
    batches: Iterable[pa.RecordBatch],
    sink: OutcomeSink,
    store: StateStore,
    run_id: int,
    work_dir: Path,
    max_bytes: int,
    stats: LoadStats,
    last: bool,
) -> list[str]:
    """One set of jobs; returns the keys to send again (lock contention), unless this is the last round."""
    chunks = write_chunks(target, batches, work_dir, max_bytes)
    if not chunks:
        return []
    specs = [
        IngestSpec(
            object=target.object,
            operation=target.bulk_operation,  # type: ignore[arg-type]
            data=c.csv_path,
            external_id_field=target.key_field if target.mode == "upsert" else None,
        )
        for c in chunks
    ]

    def journal(index: int, job: BulkJob) -> None:
        store.journal_add(
            run_id,
            job.id,
            target.object,
            target.bulk_operation,
            chunk_path=str(chunks[index].keys_path),
            row_start=0,
            row_end=chunks[index].rows,
        )
        stats.jobs.append(job.id)

    finished = client.bulk.run_many(specs, on_created=journal)
    errors: list[SalesforceError] = []
    retry: list[str] = []
    for chunk, job in zip(chunks, finished, strict=True):
        if isinstance(job, SalesforceError):
            errors.append(job)
            continue
        store.journal_set_state(job.id, JournalState.UPLOADED)
        store.journal_set_state(job.id, JournalState.CLOSED)
        if job.state == "Failed":
            stats.failed_jobs.append(f"{job.id}: {job.error_message or 'Failed'}")
        table = collect_job(client, job, target, chunk.keys_path)
        if not last:
            locked = pc.fill_null(pc.equal(table.column("error_code"), LOCK_ERROR), False)
            retry += table.column("primary_key").filter(locked).to_pylist()
            table = table.filter(pc.invert(locked))
        sink(table, job.id)
    if errors:
        raise errors[0]
    return retry
