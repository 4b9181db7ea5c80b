"""How a run is recorded when it ends on an error or an interruption, before the exception goes up.

A run that fails records ``failed`` with the error's text; one stopped by Ctrl-C (or by anything not
foreseen) records ``interrupted``, which the next run of the sync recovers; one that lost its lease leaves
the rest to the new owner (``sfsync.sync.lease_lost``). If the state store cannot take even that record
(disk full), the error on its way up is the one to report: the run stays ``running`` until the next run
reaps it as interrupted and settles its counts.
"""

from __future__ import annotations

import logging

from sfsync.config import Api
from sfsync.errors import StateError
from sfsync.state import RunCounts, RunLock, RunStatus, StateStore
from sfsync.state.lease import LeaseLock
from sfsync.sync.diff import DiffResult
from sfsync.sync.lease_lost import lease_lost
from sfsync.sync.live import LiveProgress
from sfsync.sync.tally import Tally

log = logging.getLogger(__name__)

INTERRUPTED_TEXT = "the run was interrupted; the next run recovers it"


def run_counts(diff: DiffResult | None, tally: Tally, calls: int) -> RunCounts:
    """The run's counts so far: the diff's, the outcomes tallied, the API calls spent."""
    c = diff.counts if diff is not None else None
    return RunCounts(
        rows_read=c.rows if c else 0,
        new=c.new if c else 0,
        changed=c.changed if c else 0,
        unchanged=c.unchanged if c else 0,
        created=tally.created,
        updated=tally.updated,
        rejected=tally.rejected,
        api_calls=calls,
        removed=tally.removed,
    )


def finish_anyway(
    store: StateStore, run_id: int, status: RunStatus, counts: RunCounts, *, api: Api | None, error: str
) -> None:
    """Record how a run ended while an error is on its way up (a store that refuses is only logged)."""
    try:
        store.finish_run(run_id, status, counts, api=api, error=error)
    except StateError as exc:
        log.error("run %d could not be recorded as %s: %s", run_id, status.value, exc)


def record_interrupted(
    store: StateStore,
    run_id: int,
    counts: RunCounts,
    api: Api | None,
    live: LiveProgress,
    lock: RunLock | LeaseLock,
) -> None:
    """Record a run stopped by Ctrl-C (or by anything unforeseen) as interrupted. A run that lost its
    lease raises the lease's error instead."""
    if lock.lost:
        raise lease_lost(store, run_id, lock) from None
    live.flush()
    finish_anyway(store, run_id, RunStatus.INTERRUPTED, counts, api=api, error=INTERRUPTED_TEXT)


__all__ = ["INTERRUPTED_TEXT", "finish_anyway", "record_interrupted", "run_counts"]
