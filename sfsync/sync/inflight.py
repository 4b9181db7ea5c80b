"""Rows in flight: the journal of REST batches, and settling rows whose outcome a crash or Salesforce lost.

**REST batches.** Before a batch of rows goes to sObject Collections, :class:`RestJournal` writes what it
sends (primary keys and the cells, as Bulk CSV text) to ``batch-NNNNNN.parquet`` in the run's work
directory and journals it (``rest-<run>-<n>``, state ``new``). Each chunk's results are stored as they
arrive; once the batch's calls have all answered (or failed in a way that reports every record that may
have been written) the entry moves to ``collected``. A batch still pending at the next run's recovery
is settled by :func:`settle_rest_batch`: its rows without a stored result are looked for in the org
(``sfsync.sync.reconcile``); the rows found get their outcome (accepted), the others ``NOT_PROCESSED``.

**Bulk jobs Salesforce no longer knows** (404: an org deletes jobs after 7 days; a restarted local org
loses them): :func:`settle_vanished_job`. A job journaled ``new`` was never closed, so Salesforce
processed none of it; any later state may have been processed, so its rows are looked for in the org.

Either way no row is sent again before the org was asked what it became, so an insert is never
duplicated by a crash (within the limits in ``sfsync.sync.reconcile``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sfsync.errors import StateError
from sfsync.salesforce import SalesforceClient
from sfsync.state import JournalEntry, JournalState, StateStore
from sfsync.state.failures import unwritable
from sfsync.sync.encode import cell_table
from sfsync.sync.load import Uploaded
from sfsync.sync.reconcile import InFlight, ReconcileSettings, find_written, not_found
from sfsync.sync.target import PK, TARGET_FILE, Target
from sfsync.sync.workfiles import local_work_file, publish_work

log = logging.getLogger(__name__)

REST_BATCH_PREFIX = "rest-"
"""Journal ids of REST batches start with this (Bulk job ids start with ``750``)."""


def is_rest_batch(entry: JournalEntry) -> bool:
    return entry.job_id.startswith(REST_BATCH_PREFIX)


@dataclass
class RestJournal:
    """Journals each REST batch of one run before it is sent (see the module docstring)."""

    store: StateStore
    client: SalesforceClient
    run_id: int
    target: Target
    work_dir: Path
    settings: ReconcileSettings = field(default_factory=ReconcileSettings)
    #: told apart in batch ids when a run keeps two journals (its rows, and removals: ``rm``)
    tag: str = ""
    _count: int = field(default=0, init=False)

    def before(self, table: pa.Table) -> str:
        """Write the batch's rows and journal it (``new``); raise before anything is sent if either fails."""
        self._count += 1
        batch_id = f"{REST_BATCH_PREFIX}{self.run_id}-{self.tag}{self._count:06d}"
        path = self.work_dir / f"batch-{self._count:06d}.parquet"
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            target_file = self.work_dir / TARGET_FILE
            if not target_file.exists():
                _write_atomically(target_file, json.dumps(self.target.to_json()).encode())
            cells = cell_table(table, self.target.maps, self.target.key)
            tmp = path.with_name(f".tmp-{path.name}")
            pq.write_table(cells.append_column(PK, pc.cast(table.column(PK), pa.string())), tmp)
            os.replace(tmp, path)
        except OSError as exc:
            raise unwritable(
                exc, self.work_dir, f"the rows of REST batch {batch_id} (none of it was sent)"
            ) from exc
        publish_work(self.store, [path, target_file])  # files on object storage: before the journal names it
        self.store.journal_add(
            self.run_id,
            batch_id,
            self.target.object,
            self.target.mode,
            chunk_path=str(path),
            row_start=0,
            row_end=table.num_rows,
        )
        return batch_id

    def done(self, batch_id: str) -> None:
        """Every record of the batch that may have been written has its result stored."""
        self.store.journal_set_state(batch_id, JournalState.CLOSED)
        self.store.journal_set_state(batch_id, JournalState.COLLECTED)

    def lost(self, batch_id: str, failed: pa.Table) -> pa.Table:
        """Rows of the batch whose call got no answer (a timeout after sending): those found written in
        the org become accepted, the others keep their failure (they are sent again next run)."""
        entry = self.store.journal_entry(batch_id)
        assert entry is not None and entry.chunk_path is not None
        batch = pq.read_table(entry.chunk_path)
        keys = pc.cast(failed.column("primary_key"), pa.string())
        rows = InFlight(
            keys.to_pylist(), batch.filter(pc.is_in(batch.column(PK), value_set=keys)), entry.created_at
        )
        since = entry.created_at - timedelta(seconds=self.settings.clock_skew_seconds)
        known = known_record_ids(self.store, entry.sync, since, also=self.run_id)
        found = find_written(self.client, self.target, rows, known_ids=known, settings=self.settings)
        still = failed.filter(pc.invert(pc.is_in(keys, value_set=found.written.column("primary_key"))))
        return pa.concat_tables([found.written, still])


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---- settling -----------------------------------------------------------------------------------------


def known_record_ids(store: StateStore, sync: str, since: datetime, also: int | None = None) -> set[str]:
    """Record ids stored by runs of ``sync`` that may have written since ``since`` (and run ``also``)."""
    ids: set[str] = set()
    for run in store.runs(sync, limit=1_000_000):
        recent = run.finished_at is None or run.finished_at >= since
        if recent or run.id == also:
            ids.update(str(i) for i in store.record_ids(run.id).to_pylist())
        elif run.finished_at is not None and run.finished_at < since - timedelta(days=1):
            break  # runs are newest first: the rest finished long before the window
    return ids


def settle_rest_batch(
    store: StateStore, client: SalesforceClient, entry: JournalEntry, settings: ReconcileSettings
) -> int:
    """Settle a REST batch a run left pending; returns how many of its rows were found written."""
    path = local_work_file(store, entry.sync, entry.chunk_path or "", beside=[TARGET_FILE])
    if not path.exists() or not (path.parent / TARGET_FILE).exists():
        # (a worker that woke after losing its lease may journal one batch it never sends, under a work
        # prefix the new owner already settled: docs/state.md, "Work files in the bucket")
        log.warning(
            "REST batch %s: its file %s is gone; its rows' outcome cannot be known", entry.job_id, path
        )
        store.journal_set_state(entry.job_id, JournalState.ABORTED, error=f"batch file {path} missing")
        return 0
    target = Target.from_json(json.loads((path.parent / TARGET_FILE).read_text()))
    batch = pq.read_table(path)
    keys = pc.cast(batch.column(PK), pa.string())
    have = store.result_keys(entry.run_id)
    pending = keys.filter(pc.invert(pc.is_in(keys, value_set=have))) if len(have) else keys
    found = 0
    if len(pending):
        mask = pc.is_in(keys, value_set=pending)
        rows = InFlight(pending.to_pylist(), batch.filter(mask), entry.created_at)
        since = entry.created_at - timedelta(seconds=settings.clock_skew_seconds)
        known = known_record_ids(store, entry.sync, since, also=entry.run_id)
        result = find_written(client, target, rows, known_ids=known, settings=settings)
        why = "the run stopped before Salesforce's answer for this row was stored"
        table = pa.concat_tables([result.written, not_found(result.missing, target.mode, why)])
        store.record_results(entry.run_id, table)
        found = result.written.num_rows
    store.journal_set_state(entry.job_id, JournalState.CLOSED)
    store.journal_set_state(entry.job_id, JournalState.COLLECTED)
    return found


def settle_vanished_job(
    store: StateStore,
    client: SalesforceClient,
    entry: JournalEntry,
    target: Target,
    keys_path: Path,
    settings: ReconcileSettings,
) -> tuple[pa.Table, str | None]:
    """Outcomes of a Bulk job's rows once Salesforce no longer knows the job, and the job id to store them
    under (None when they are plain results: the job was never closed, so it is marked ``aborted``).

    The caller stores the table (``record_results(..., collected_job_id=job)``)."""
    uploaded = Uploaded.read(keys_path)
    keys = [str(k) for k in uploaded.keys.to_pylist()]
    why = f"Salesforce no longer knows Bulk job {entry.job_id} (deleted, or the org restarted)"
    if entry.state is JournalState.NEW:
        # never closed: Salesforce processed none of it
        store.journal_set_state(entry.job_id, JournalState.ABORTED, error=why)
        return not_found(keys, target.mode, why), None
    if uploaded.cells is None:
        raise StateError(
            f"Bulk job {entry.job_id} vanished and its key file {keys_path} predates the stored CSV cells",
            hint="check the org for the rows of this job by hand, then delete the job's journal entry",
        )
    cells = uploaded.cells.rename_columns([c.strip() for c in uploaded.cells.column_names])
    rows = InFlight(keys, cells, entry.created_at)
    since = entry.created_at - timedelta(seconds=settings.clock_skew_seconds)
    known = known_record_ids(store, entry.sync, since, also=entry.run_id)
    result = find_written(client, target, rows, known_ids=known, settings=settings)
    store.journal_set_state(entry.job_id, JournalState.CLOSED)
    log.warning("%s: %d of its %d row(s) found written", why, result.written.num_rows, len(keys))
    return pa.concat_tables([result.written, not_found(result.missing, target.mode, why)]), entry.job_id


def is_vanished(exc: BaseException, job_id: str | None = None) -> bool:
    """Whether ``exc`` is Salesforce saying it does not know a Bulk job (HTTP 404 naming the job)."""
    status = getattr(exc, "status", None)
    about = getattr(exc, "job_id", None)
    return status == 404 and about is not None and (job_id is None or about[:15] == job_id[:15])


__all__ = [
    "REST_BATCH_PREFIX",
    "RestJournal",
    "is_rest_batch",
    "is_vanished",
    "known_record_ids",
    "settle_rest_batch",
    "settle_vanished_job",
]
