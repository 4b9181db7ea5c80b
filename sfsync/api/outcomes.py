"""What follows a run, decided in one place: pause the sync if a part of it broke, evaluate its warnings.

Every run goes through :func:`follow_run`, whoever started it (``sfsync run``, the scheduler, the web UI,
``Project.run`` from Python), so a manual run raises the same warnings and pauses the same way as a
scheduled one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

from sfsync.alerts import Notice, RunVerdict, WarningTracker, judge_run
from sfsync.api.logs import LogExport
from sfsync.api.pausing import pause_cause_for, pause_sync
from sfsync.config import Project
from sfsync.errors import SfsyncError
from sfsync.state import RunStatus, StateStore
from sfsync.sync.engine import RunResult

log = logging.getLogger(__name__)


class OutcomeKind(StrEnum):
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # finished; some rows were rejected (each stored with Salesforce's reason)
    FAILED = "failed"
    BUSY = "busy"  # another process (or run) holds the sync's lock: skipped, not a failure
    CRASHED = "crashed"  # an unexpected error (a bug): logged with its traceback


@dataclass(frozen=True)
class RunOutcome:
    """How one attempt to run a sync ended, and what followed it (pause, notice).

    ``result`` is the run's result when it finished; ``exception`` what it raised otherwise (``error`` is
    its text). ``run_id`` is set whenever the run was recorded in the history; ``verdict`` then says how the
    run reads everywhere (status, whether it warns, the one-line reason: see ``sfsync.alerts.judge_run``).
    """

    sync: str
    kind: OutcomeKind
    run_id: int | None = None
    error: str | None = None
    paused_cause: str | None = None
    notice: Notice | None = None
    result: RunResult | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    verdict: RunVerdict | None = None
    logs: LogExport | None = None  # what was written to the sync log tables after the run (logs:)

    def exit_code(self, *, allow_rejected: bool = False) -> int:
        """``sfsync run``'s exit code for this attempt (docs/cli.md#exit-codes)."""
        if self.kind is OutcomeKind.BUSY:
            return 1
        if self.verdict is not None:
            return self.verdict.exit_code(allow_rejected=allow_rejected)
        if isinstance(self.exception, SfsyncError):
            return self.exception.exit_code
        return 0 if self.kind is OutcomeKind.SUCCEEDED else 1


def outcome_kind(status: RunStatus) -> OutcomeKind:
    """The outcome of a run that ended with ``status``."""
    if status is RunStatus.SUCCEEDED:
        return OutcomeKind.SUCCEEDED
    if status is RunStatus.PARTIAL:
        return OutcomeKind.PARTIAL
    return OutcomeKind.FAILED


def verdict_of(store: StateStore, config: Project, run_id: int | None) -> RunVerdict | None:
    """The verdict on a recorded run under its sync's warnings (None when it was never recorded)."""
    if run_id is None:
        return None
    run = store.get_run(run_id)
    sync = config.syncs.get(run.sync)
    by_code = store.rejected_counts(run_id) if run.counts.rejected else {}
    return judge_run(run, sync.warnings if sync is not None else None, by_code)


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
    verdict = verdict_of(store, tracker.project, run_id)
    if error is not None:
        return RunOutcome(
            sync, OutcomeKind.FAILED, run_id, str(error), cause, notice, exception=error, verdict=verdict
        )
    assert result is not None
    error_text = result.error or (verdict.reason if verdict and result.status is RunStatus.FAILED else None)
    return RunOutcome(
        sync, outcome_kind(result.status), run_id, error_text, None, notice, result=result, verdict=verdict
    )


__all__ = ["OutcomeKind", "RunOutcome", "follow_run", "outcome_kind", "verdict_of"]
