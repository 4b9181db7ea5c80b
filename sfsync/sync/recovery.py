"""Settling what crashed runs of a sync left in the run journal, before the next run sends anything.

For each journal entry not yet ``collected`` or ``aborted`` (docs/state.md, "Crash safety"):

- a REST batch: its rows without a stored result are looked for in the org (``inflight.settle_rest_batch``);
- a Bulk job Salesforce still knows: Open → aborted (nothing of it was processed); otherwise waited for,
  marked ``closed`` and its results stored (the part, then the ``collected`` mark);
- a Bulk job Salesforce no longer knows (404): ``inflight.settle_vanished_job``.

Every step is idempotent: a recovery killed half-way is redone by the next run.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sfsync.errors import SalesforceError
from sfsync.salesforce import SalesforceClient
from sfsync.state import JournalEntry, JournalState, StateStore
from sfsync.sync.inflight import is_rest_batch, is_vanished, settle_rest_batch, settle_vanished_job
from sfsync.sync.load import collect_job, csv_path_of
from sfsync.sync.reconcile import ReconcileSettings
from sfsync.sync.target import TARGET_FILE, Target
from sfsync.sync.workfiles import local_work_file

log = logging.getLogger(__name__)


def settle_journal(
    store: StateStore, client: SalesforceClient, sync: str, settings: ReconcileSettings | None = None
) -> list[int]:
    """Settle every pending journal entry of ``sync``; the ids of the runs whose entries it settled."""
    settings = settings or ReconcileSettings()
    runs: list[int] = []
    for entry in store.journal_pending(sync):
        if is_rest_batch(entry):
            settle_rest_batch(store, client, entry, settings)
        else:
            _settle_bulk_job(store, client, entry, settings)
        if entry.run_id not in runs:
            runs.append(entry.run_id)
    return runs


def _target_of(keys_path: Path) -> Target:
    # the loader wrote target.json beside the job's key file
    return Target.from_json(json.loads((keys_path.parent / TARGET_FILE).read_text()))


def _settle_bulk_job(
    store: StateStore, client: SalesforceClient, entry: JournalEntry, settings: ReconcileSettings
) -> None:
    recorded = entry.chunk_path or ""
    # its worker may be gone: its work files are then fetched from the bucket (state.files)
    keys = local_work_file(
        store, entry.sync, recorded, beside=[csv_path_of(Path(recorded)).name, TARGET_FILE]
    )
    try:
        job = client.bulk.get(entry.job_id)
        if job.state == "Open":
            client.bulk.abort(job.id)
            store.journal_set_state(job.id, JournalState.ABORTED, error="aborted by recovery")
            return
        if not job.done:
            job = client.bulk.wait(job.id)
        table = collect_job(client, job, _target_of(keys), keys)
    except SalesforceError as exc:
        if not is_vanished(exc, entry.job_id):
            raise
        table, job_id = settle_vanished_job(store, client, entry, _target_of(keys), keys, settings)
        store.record_results(entry.run_id, table, collected_job_id=job_id)
        return
    store.journal_set_state(job.id, JournalState.CLOSED)
    store.record_results(entry.run_id, table, collected_job_id=job.id)


__all__ = ["settle_journal"]
