"""What a run does when it finds it lost its sync's run lease (PostgreSQL state, ``sfsync.state.lease``).

The engine's Salesforce calls check the lease first (``SalesforceClient.guarded``), so the run stops at
its next call. It then records itself as ``interrupted`` with the lease as the cause and leaves the rest
to the worker that took the sync over (or the next run): that one reaps the run, settles its journal
(``sfsync.sync.recovery``) and advances the snapshot for the rows Salesforce accepted. The counts are left
as they stand, since the new owner may have settled them already.
"""

from __future__ import annotations

import logging

from sfsync.errors import LeaseLostError, StateError
from sfsync.state import RunLock, RunStatus, StateStore
from sfsync.state.lease import LeaseLock

log = logging.getLogger(__name__)


def lease_lost(store: StateStore, run_id: int, lock: RunLock | LeaseLock) -> LeaseLostError:
    """Record run ``run_id`` as interrupted by the loss of ``lock``; the error to raise."""
    assert isinstance(lock, LeaseLock), "only a lease can be lost"
    error = lock.lost_error()
    error.run_id = run_id
    try:
        store.finish_run(run_id, RunStatus.INTERRUPTED, error=error.full_text())
    except StateError as exc:  # e.g. PostgreSQL unreachable: the next run reaps it as interrupted
        log.error("run %d could not be recorded as interrupted: %s", run_id, exc)
    return error


__all__ = ["lease_lost"]
