"""What follows a run, decided in one place: pause the sync if a part of it broke, evaluate its warnings.

Every run goes through :func:`follow_run`, whoever started it (``sfsync run``, the scheduler, the web UI,
``Project.run`` from Python), so a manual run raises the same warnings and pauses the same way as a
scheduled one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

from sfsync.alerts import Notice, WarningTracker
from sfsync.api.pausing import pause_cause_for, pause_sync
from sfsync.errors import SfsyncError
from sfsync.state import RunStatus, StateStore
from sfsync.sync.engine import RunResult

log = logging.getLogger(__name__)


class OutcomeKind(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BUSY = "busy"  # another process (or run) holds the sync's lock: skipped, not a failure
    CRASHED = "crashed"  # an unexpected error (a bug): logged with its traceback


@dataclass(frozen=True)
class RunOutcome:
    """How one attempt to run a sync ended, and what followed it (pause, notice).

    ``result`` is the run's result when it finished; ``exception`` what it raised otherwise (``error`` is
    its text). ``run_id`` is set whenever the run was recorded in the history.
    """

    sync: str
    kind: OutcomeKind
    run_id: int | None = None
    error: str | None = None
    paused_cause: str | None = None
    notice: Notice | None = None
    result: RunResult | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)


def follow_run(
    store: StateStore,
    tracker: WarningTracker,
    sync: str,
    result: RunResult | None,
    error: SfsyncError | None,
) -> RunOutcome:
    """After a run of ``sync`` (its ``result``, or the ``error`` it raised): pause the sync if the error
    means a broken part, then evaluate and send its warnings."""
    run_id = result.run_id if result is not None else (error.run_id if error is not None else None)
    cause = pause_cause_for(error) if error is not None else None
    if cause is not None:
        status = store.sync_status(sync)
        if status.paused and not status.pause_automatic:
            cause = None  # a person paused it meanwhile: keep their pause
        else:
            pause_sync(store, sync, cause, automatic=True)
    notice = tracker.after_run(sync, run_id, paused_cause=cause)
    if error is not None:
        return RunOutcome(sync, OutcomeKind.FAILED, run_id, str(error), cause, notice, exception=error)
    assert result is not None
    kind = OutcomeKind.FAILED if result.status is RunStatus.FAILED else OutcomeKind.SUCCEEDED
    return RunOutcome(sync, kind, run_id, result.error, None, notice, result=result)


__all__ = ["OutcomeKind", "RunOutcome", "follow_run"]
