"""The Bulk loader: send a plan's rows through Bulk API 2.0 and turn every answer into a per-row outcome.

Rows arrive as Arrow batches of the *send table* built by the planner:

``__pk``         the model's primary key as text (how outcomes are reported)
``__key``        the record key: ``Id`` (update) or the external id value (upsert); absent for insert
<column>         each mapped model column
``__send__<c>``  whether column ``c``'s field is written for that row (see ``sfsync.sync.encode``)

(``sfsync.sync.target`` names these columns and the target; ``sfsync.sync.load_rest`` sends through sObject
Collections.) ``load_bulk`` writes CSV chunks of at most ``min(max_bytes, PIPELINE_JOB_BYTES)`` (the first one
``FIRST_JOB_BYTES``) to the run's work directory (each with a key file: the primary key of every CSV row, in
order), journals every job id before uploading to it (and the upload and the close as each call returns), and
runs the jobs as a pipeline: a job starts as soon as its CSV is written (several at once), and a finished
job's results are collected and stored while later jobs still run. Result rows are mapped back to primary keys
by their exact CSV cells, compared with the uploaded CSV parsed the same way: when they come back in upload
order one vectorised comparison proves it, otherwise a DuckDB multiset join pairs them (identical rows are
interchangeable, so the match is exact)."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sfsync.errors import ConfigError, SalesforceError, StateError
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.automation import RULE_RECORD_OBJECTS
from sfsync.salesforce.bulk import BulkJob
from sfsync.salesforce.csvtable import read_csv_table
from sfsync.salesforce.responses import parse_bulk_error
from sfsync.state import BulkJobProgress, JournalState, RunPhase, StateStore
from sfsync.state.failures import unwritable
from sfsync.sync import outcomes
from sfsync.sync.encode import chunk_csv, csv_fields
from sfsync.sync.load_rest import BatchJournal, load_rest
from sfsync.sync.target import PK, TARGET_FILE, LoadStats, OutcomeSink, Target
from sfsync.sync.workfiles import publish_work

log = logging.getLogger(__name__)

#: The per-row error Bulk jobs are retried for within a run (lock contention clears by itself).
LOCK_ERROR = "UNABLE_TO_LOCK_ROW"
#: The per-row error of a duplicate rule's refusal (sent again through REST with ``allow_save``).
DUPLICATES_DETECTED = "DUPLICATES_DETECTED"
_SEP = "\x1f"


class BulkWatch(Protocol):
    """What a Bulk load tells about itself while it runs (the engine turns it into progress events)."""

    def job(self, job: BulkJobProgress) -> None:
        """A job was created or closed, was polled, or had its outcomes stored (``collected``); may be
        called from the worker thread that uploads the job."""

    def phase(self, phase: RunPhase) -> None:
        """Every job of a round is uploaded: what is left is waiting for results (``collecting``)."""


VanishedJob = Callable[[str, Path], tuple[pa.Table, str | None]]
"""Settles a Bulk job Salesforce no longer knows (job id, its key file): the outcomes of its rows and the
job id to store them under (``sfsync.sync.inflight.settle_vanished_job``)."""


# ---- Bulk API 2.0 --------------------------------------------------------------------------------------


def _signature(columns: list[pa.ChunkedArray] | list[pa.Array]) -> pa.ChunkedArray | pa.Array:
    if len(columns) == 1:
        return columns[0]
    return pc.binary_join_element_wise(*columns, _SEP)


#: Uploaded CSV bytes parsed ahead, while Salesforce processes the jobs, to match their results faster.
#: Chunks past this budget are parsed when their results are collected (bounds memory).
PREFETCH_CSV_BYTES = 200_000_000
#: Bulk jobs are cut at this many bytes of CSV (or the destination's ``bulk_max_bytes`` if smaller), so
#: the first job starts while later rows are still encoded and finished jobs' results are stored while
#: later jobs run. Salesforce splits every job into 10,000-record batches anyway, so smaller jobs cost no
#: extra batches, only a few API calls each (create, upload, close, polls, result downloads).
PIPELINE_JOB_BYTES = 20_000_000
#: The first job is cut at this many bytes (about 20,000 rows of a dozen short fields), so Salesforce
#: starts processing moments after the plan instead of after a whole 20 MB CSV is encoded; the next
#: jobs are encoded while it is uploaded and processed.
FIRST_JOB_BYTES = 2_000_000


@dataclass(frozen=True)
class Chunk:
    index: int
    csv_path: Path
    keys_path: Path  # Parquet: __pk, one row per CSV row, in CSV order
    rows: int


def csv_path_of(keys_path: Path) -> Path:
    """The CSV uploaded to a job, from the job's key file (they sit side by side)."""
    return keys_path.with_name(keys_path.name.removesuffix(".keys.parquet") + ".csv")


def iter_chunks(
    target: Target, batches: Iterable[pa.RecordBatch], work_dir: Path, max_bytes: int
) -> Iterator[Chunk]:
    """Write the CSV of each job and the key file that maps its rows back to primary keys, one job at a
    time (so the first job can start while later rows are still being encoded); the first job is small
    (:data:`FIRST_JOB_BYTES`)."""
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        # what crash recovery needs to read these jobs' results: the object, mode, key and mappings
        (work_dir / TARGET_FILE).write_text(json.dumps(target.to_json()))
    except OSError as exc:
        raise unwritable(exc, work_dir, "the run's Bulk work files (nothing was sent)") from exc
    chunks = chunk_csv(iter(batches), target.maps, target.key, max_bytes, first_bytes=FIRST_JOB_BYTES)
    for i, (body, src) in enumerate(chunks):
        keys = pa.concat_arrays([pc.cast(b.column(b.schema.get_field_index(PK)), pa.string()) for b in src])
        csv_path = work_dir / f"job-{i:04d}.csv"
        keys_path = work_dir / f"job-{i:04d}.keys.parquet"
        try:
            csv_path.write_bytes(body)
            pq.write_table(pa.table({"__pk": keys}), keys_path)
        except OSError as exc:
            raise unwritable(exc, work_dir, f"the CSV of Bulk job {i + 1} (not sent)") from exc
        yield Chunk(i, csv_path, keys_path, len(keys))


@dataclass
class Uploaded:
    """What was uploaded to one job, row by row: primary keys and the CSV cells as Bulk CSV is parsed."""

    keys: pa.ChunkedArray
    cells: pa.Table | None  # None for key files of older sfsync versions, which carry ``__sig``
    _sig: pa.ChunkedArray | pa.Array | None = None

    @classmethod
    def read(cls, keys_path: Path) -> Uploaded:
        table = pq.read_table(keys_path)
        keys = pc.cast(table.column("__pk"), pa.string())
        if "__sig" in table.column_names:
            return cls(keys, None, table.column("__sig"))
        with open(csv_path_of(keys_path), "rb") as fh:
            return cls(keys, read_csv_table(fh))

    def signature(self, columns: list[str]) -> pa.ChunkedArray | pa.Array:
        if self._sig is None:
            assert self.cells is not None
            self._sig = _signature([self.cells.column(c) for c in columns])
        return self._sig

    def in_order(self, results: pa.Table, columns: list[str]) -> bool:
        """Whether the result rows are exactly the uploaded rows, in upload order (one vectorised check)."""
        if results.num_rows != len(self.keys):
            return False
        if self.cells is None:
            same = pc.equal(self.signature(columns), _signature([results.column(c) for c in columns]))
            return not same.null_count and bool(pc.all(same).as_py())
        return all(bool(pc.all(pc.equal(results.column(c), self.cells.column(c))).as_py()) for c in columns)


def match_results(uploaded: Uploaded, results: pa.Table, columns: list[str]) -> pa.Table:
    """Attach ``__pk`` to Bulk result rows by their exact CSV cells (multiset match).

    When the results come back in upload order (what Salesforce usually does for a job's rows) one
    vectorised comparison proves it and the keys are taken as they are; otherwise a DuckDB join pairs
    the n-th result row of each cell signature with the n-th uploaded row of that signature.
    """
    if results.num_rows == 0:
        return results.append_column("__pk", pa.array([], pa.string()))
    if uploaded.in_order(results, columns):
        return results.append_column("__pk", uploaded.keys)
    res = pa.table(
        {
            "__sig": _signature([results.column(c) for c in columns]),
            "__n": pa.array(range(results.num_rows), pa.int64()),
        }
    )
    keys = pa.table({"__pk": uploaded.keys, "__sig": uploaded.signature(columns)})
    con = duckdb.connect()
    try:
        con.register("res", res)
        con.register("keys", keys)
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


def collect_job(
    client: SalesforceClient,
    job: BulkJob,
    target: Target,
    chunk_keys: Path,
    *,
    uploaded: Uploaded | None = None,
) -> pa.Table:
    """All outcomes of a finished job: successes, failures and (as failures) rows never processed.

    ``uploaded`` is the job's :class:`Uploaded` if already read (else it is read from ``chunk_keys``).
    """
    columns = csv_fields(target.maps, target.key)
    parts: list[pa.Table] = []
    up = uploaded if uploaded is not None else Uploaded.read(chunk_keys)
    ok = client.bulk.results(job.id, "successful")
    if ok.num_rows:
        ok = match_results(up, ok, columns)
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
        bad = match_results(up, bad, columns)
        parsed = [parse_bulk_error(e) for e in bad.column("sf__Error").to_pylist()]
        n = bad.num_rows
        ids = [i or None for i in bad.column("sf__Id").to_pylist()]
        parts.append(
            pa.table(
                [
                    bad.column("__pk"),
                    [False] * n,
                    [outcomes.ATTEMPTED[target.mode]] * n,
                    ids,
                    [p.status_code for p in parsed],
                    [outcomes.explain(p.status_code, p.message) for p in parsed],
                    [",".join(p.fields) or None for p in parsed],
                ],
                schema=outcomes.OUTCOME_SCHEMA,
            )
        )
    keys = up.keys
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
    return outcomes.already_deleted(out.filter(pc.is_valid(out.column("primary_key"))), target.mode)


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
    watch: BulkWatch | None = None,
    vanished: VanishedJob | None = None,
    rest_journal: BatchJournal | None = None,
) -> LoadStats:
    """Send rows through Bulk API 2.0 jobs (several at once), journaled for crash recovery.

    Rows that fail only with ``UNABLE_TO_LOCK_ROW`` are sent again in new jobs, up to ``lock_retries``
    more rounds (``reload(keys)`` gives their rows back); what still fails is stored as rejected.
    ``watch`` is told each job's states and when every job of a round is uploaded (live progress).

    The org's automation ends the same way as through REST (docs/salesforce-automation.md): jobs name the
    assignment rule the sync asks for (``assignmentRuleId``), and with ``duplicate_rules: allow_save`` the
    rows a duplicate rule refused (Bulk API 2.0 cannot allow saving them) are sent again through REST
    with ``allowSave=true``: those that only an alert refused are saved, block rules still refuse.
    A job Salesforce answers 404 for (it no longer knows it) is settled by ``vanished``; rows sent again
    through REST (``allow_save``) are journaled in ``rest_journal`` like any REST batch.
    """
    stats = LoadStats()
    rule_id = bulk_assignment_rule(client, target)
    held: list[str] | None = [] if target.duplicates == "allow_save" and reload is not None else None
    for attempt in range(lock_retries + 1):
        last = attempt == lock_retries or reload is None
        round_dir = work_dir if attempt == 0 else work_dir / f"retry-{attempt}"
        one_round = _BulkRound(
            client, target, sink, store, run_id, stats, last, watch, rule_id, held, vanished
        )
        retry = one_round.run(batches, round_dir, max_bytes)
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
    if held:
        assert reload is not None
        log.info(
            "%d row(s) of %s refused by a duplicate rule in Bulk; sending them through REST with allowSave",
            len(held),
            target.object,
        )
        load_rest(client, target, reload(held), sink, journal=rest_journal)
    return stats


def bulk_assignment_rule(client: SalesforceClient, target: Target) -> str | None:
    """The ``assignmentRuleId`` of the target's Bulk jobs: None for ``none`` (and when ``default`` finds no
    active rule), the active rule's id for ``default``, the sync's id otherwise. ConfigError for objects
    Bulk cannot assign (Account territory rules run through REST only)."""
    if target.assignment == "none":
        return None
    if target.object not in RULE_RECORD_OBJECTS:
        raise ConfigError(
            f"Bulk API 2.0 cannot run {target.object} assignment rules (jobs name Case and Lead rules only)",
            hint="send this sync through REST (api: rest) or set assignment_rules: none",
        )
    if target.assignment == "default":
        rule = client.active_assignment_rule(target.object)
        return rule.id if rule is not None else None
    return target.assignment


@dataclass(frozen=True)
class _Started:
    """A job handed to a worker thread: its future, its chunk and (if parsed ahead) its uploaded CSV."""

    job: Future[BulkJob]
    chunk: Chunk
    ahead: Future[Uploaded] | None


class _BulkRound:
    """One set of Bulk jobs, run as a pipeline.

    Each job is created, uploaded and closed by a worker thread as soon as its CSV is written; this thread
    waits for the jobs in the order they started (so only one job is polled at a time) and stores each
    one's results while later jobs still run. At most ``max_concurrency`` jobs are in flight: before
    starting another, the oldest is waited for and collected. A helper thread parses the uploaded CSV of
    each job ahead (up to :data:`PREFETCH_CSV_BYTES`) for matching its results.
    """

    def __init__(
        self,
        client: SalesforceClient,
        target: Target,
        sink: OutcomeSink,
        store: StateStore,
        run_id: int,
        stats: LoadStats,
        last: bool,
        watch: BulkWatch | None = None,
        assignment_rule_id: str | None = None,
        held: list[str] | None = None,
        vanished: VanishedJob | None = None,
    ) -> None:
        """``assignment_rule_id``: the jobs' ``assignmentRuleId``. With ``held``, rows a duplicate rule
        refused are not stored but their keys appended to it (to be sent again through REST)."""
        self.client = client
        self.watch = watch
        self.vanished = vanished
        self.target = target
        self.sink = sink
        self.store = store
        self.run_id = run_id
        self.stats = stats
        self.last = last
        self.assignment_rule_id = assignment_rule_id
        self.held = held
        self.errors: list[SalesforceError] = []
        self.retry: list[str] = []
        self.in_flight = max(1, client.settings.max_concurrency)
        self.started: deque[_Started] = deque()
        self.prefetch_budget = PREFETCH_CSV_BYTES
        self.journal_failed: StateError | None = None
        self.stopping = threading.Event()

    def run(self, batches: Iterable[pa.RecordBatch], work_dir: Path, max_bytes: int) -> list[str]:
        """Send every chunk; returns the keys to send again (lock contention) unless this round is last."""
        workers = ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="sfsync-bulk")
        reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sfsync-prefetch")
        try:
            for chunk in iter_chunks(self.target, batches, work_dir, min(max_bytes, PIPELINE_JOB_BYTES)):
                while len(self.started) >= self.in_flight:
                    self._finish_oldest()
                self._start(chunk, workers, reader)
            if self.watch is not None:
                self.watch.phase(RunPhase.COLLECTING)
            while self.started:
                self._finish_oldest()
        finally:
            # normally nothing is left; after an error or Ctrl-C the journal lets the next run settle the
            # jobs, and the workers send nothing more (a job not closed yet stays Open: never processed)
            if self.started:
                self.stopping.set()
            workers.shutdown(wait=not self.started, cancel_futures=True)
            reader.shutdown(wait=False, cancel_futures=True)
        if self.errors:
            raise self.errors[0]
        return self.retry

    def _start(self, chunk: Chunk, workers: ThreadPoolExecutor, reader: ThreadPoolExecutor) -> None:
        """Hand the chunk's job to a worker and parse its CSV ahead. The worker creates the job, journals it
        (``new``), uploads (``uploaded``) and closes it (``closed``): each journal state is written as soon
        as the call it records has returned."""
        if self.journal_failed is not None:
            raise self.journal_failed  # the state store refused a write: start nothing more
        target = self.target
        size = self.client.bulk.check_size(chunk.csv_path, target.object)
        job = workers.submit(
            self.client.bulk.run,
            target.object,
            target.bulk_operation,
            chunk.csv_path,
            external_id_field=target.key_field if target.mode == "upsert" else None,
            on_created=lambda job: self._journal(chunk, job),
            on_uploaded=lambda job: self._mark(job, JournalState.UPLOADED),
            on_closed=lambda job: self._closed(job, chunk),
            wait=False,
            assignment_rule_id=self.assignment_rule_id,
        )
        ahead = None
        if size <= self.prefetch_budget:
            self.prefetch_budget -= size
            ahead = reader.submit(Uploaded.read, chunk.keys_path)
        self.started.append(_Started(job, chunk, ahead))

    def _journal(self, chunk: Chunk, job: BulkJob) -> None:
        """Record a job just created, before anything is uploaded to it (runs in the worker thread)."""
        try:
            # files on object storage: what recovery reads is there before the journal names it
            publish_work(self.store, [chunk.keys_path, chunk.csv_path, chunk.keys_path.parent / TARGET_FILE])
            self.store.journal_add(
                self.run_id,
                job.id,
                self.target.object,
                self.target.bulk_operation,
                chunk_path=str(chunk.keys_path),
                row_start=0,
                row_end=chunk.rows,
            )
        except StateError as exc:  # the job stays Open and empty: never processed
            self.journal_failed = exc
            raise
        self.stats.jobs.append(job.id)
        self._unless_stopping(job)
        self._tell(job, chunk)

    def _closed(self, job: BulkJob, chunk: Chunk) -> None:
        self._mark(job, JournalState.CLOSED)
        self._tell(job, chunk)

    def _tell(self, job: BulkJob, chunk: Chunk, *, collected: bool = False) -> None:
        if self.watch is not None:
            self.watch.job(
                BulkJobProgress(
                    job.id,
                    job.state or "Open",
                    rows=chunk.rows,
                    processed=job.records_processed,
                    failed=job.records_failed,
                    collected=collected,
                )
            )

    def _mark(self, job: BulkJob, state: JournalState) -> None:
        """Move the job's journal entry to ``state`` (in the worker thread, right after the call returned)."""
        try:
            self.store.journal_set_state(job.id, state)
        except StateError as exc:
            self.journal_failed = exc
            raise
        if state is JournalState.UPLOADED:
            self._unless_stopping(job)

    def _unless_stopping(self, job: BulkJob) -> None:
        """Raise (in the worker) instead of making the job's next call once the run is stopping."""
        if self.stopping.is_set():
            raise StateError(f"the run stopped before Bulk job {job.id} was closed (it stays Open)")

    def _finish_oldest(self) -> None:
        """Wait for the oldest job in flight, then collect and store its outcomes."""
        started = self.started.popleft()
        try:
            job = self.client.bulk.wait(
                started.job.result().id, on_poll=lambda job: self._tell(job, started.chunk)
            )
            if job.state == "Failed":
                self.stats.failed_jobs.append(f"{job.id}: {job.error_message or 'Failed'}")
            table = self._collect(job, started)
            job_id: str | None = job.id
            known: BulkJob | None = job
        except SalesforceError as exc:
            if self.vanished is None or not exc.job_id or exc.status != 404:
                self.errors.append(exc)
                return
            # Salesforce no longer knows the job: find out what its rows became
            table, job_id = self.vanished(exc.job_id, started.chunk.keys_path)
            known = None
        if not self.last:
            table = self._set_aside_locked(table)
        if self.held is not None:
            table = self._hold_duplicates(table, self.held)
        self.sink(table, job_id)
        if known is not None:
            self._tell(known, started.chunk, collected=True)

    def _collect(self, job: BulkJob, started: _Started) -> pa.Table:
        """The job's outcomes, matched with its uploaded CSV (parsed ahead if it fitted the budget)."""
        chunk, ahead = started.chunk, started.ahead
        uploaded = ahead.result() if ahead is not None else None
        table = collect_job(self.client, job, self.target, chunk.keys_path, uploaded=uploaded)
        if ahead is not None:
            self.prefetch_budget += chunk.csv_path.stat().st_size
        return table

    def _set_aside_locked(self, table: pa.Table) -> pa.Table:
        """Keep rows that failed only with lock contention for the next round; return the others."""
        locked = pc.fill_null(pc.equal(table.column("error_code"), LOCK_ERROR), False)
        self.retry.extend(table.column("primary_key").filter(locked).to_pylist())
        return table.filter(pc.invert(locked))

    @staticmethod
    def _hold_duplicates(table: pa.Table, held: list[str]) -> pa.Table:
        """Hold back rows a duplicate rule refused (their keys go to ``held``); return the others."""
        dup = pc.fill_null(pc.equal(table.column("error_code"), DUPLICATES_DETECTED), False)
        held.extend(table.column("primary_key").filter(dup).to_pylist())
        return table.filter(pc.invert(dup))
