"""One scheduled run, end to end: run the sync, pause it if it broke, evaluate its warnings.

:func:`handle_run_end` is also what any other caller (``sfsync run``, the web UI) calls after a run, so
a manual run raises the same warnings and pauses the same way as a scheduled one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx

from sfsync.alerts import Notice, WarningTracker
from sfsync.config import Project
from sfsync.errors import SfsyncError
from sfsync.schedule.pausing import is_auto_pause, pause_cause_for, pause_sync, resume_sync
from sfsync.state import StateStore, SyncBusyError, Trigger
from sfsync.sync.engine import RunOptions, SyncSession

log = logging.getLogger(__name__)

SessionFactory = Callable[[], SyncSession]
"""Makes a fresh ``SyncSession`` (one per run or check, closed afterwards)."""


class OutcomeKind(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BUSY = "busy"  # another process (or run) holds the sync's lock: skipped, not a failure
    CRASHED = "crashed"  # an unexpected error (a bug): logged with its traceback


@dataclass(frozen=True)
class RunOutcome:
    sync: str
    kind: OutcomeKind
    run_id: int | None = None
    error: str | None = None
    paused_cause: str | None = None
    notice: Notice | None = None


def handle_run_end(
    store: StateStore,
    tracker: WarningTracker,
    sync: str,
    run_id: int | None,
    error: BaseException | None,
) -> RunOutcome:
    """After a run of ``sync`` (``run_id`` None if it failed before being recorded; ``error`` what it
    raised): pause the sync if the error means a broken part, and evaluate and send its warnings."""
    cause = pause_cause_for(error) if error is not None else None
    if cause is not None:
        status = store.sync_status(sync)
        if status.paused and not is_auto_pause(status):
            cause = None  # a person paused it meanwhile: keep their pause
        else:
            pause_sync(store, sync, cause)
    notice = tracker.after_run(sync, run_id, paused_cause=cause)
    if error is None:
        run = store.get_run(run_id) if run_id is not None else None
        kind = (
            OutcomeKind.FAILED if run is not None and run.status.value == "failed" else OutcomeKind.SUCCEEDED
        )
        return RunOutcome(sync, kind, run_id, run.error if run else None, None, notice)
    return RunOutcome(sync, OutcomeKind.FAILED, run_id, str(error), cause, notice)


def run_scheduled(
    store: StateStore,
    tracker: WarningTracker,
    sync: str,
    session_factory: SessionFactory,
    *,
    trigger: Trigger = Trigger.SCHEDULE,
) -> RunOutcome:
    """Run ``sync`` once; never raises for a failed run (the outcome says what happened)."""
    before = store.last_run(sync)
    session = session_factory()
    try:
        result = session.run(sync, RunOptions(trigger=trigger.value))
    except SyncBusyError as exc:
        log.info("sync %s: skipped, already running (%s)", sync, exc.message)
        return RunOutcome(sync, OutcomeKind.BUSY, error=exc.message)
    except SfsyncError as exc:
        after = store.last_run(sync)
        started = after is not None and (before is None or after.id > before.id)
        run_id = after.id if after is not None and started else None
        log.error("sync %s: run %s failed: %s", sync, run_id if run_id is not None else "-", exc.message)
        return handle_run_end(store, tracker, sync, run_id, exc)
    except Exception as exc:
        log.exception("sync %s: the run crashed; the next run recovers what it left", sync)
        return RunOutcome(sync, OutcomeKind.CRASHED, error=f"{type(exc).__name__}: {exc}")
    finally:
        session.close()
    c = result.counts
    log.info(
        "sync %s: run %d %s: %d read, %d created, %d updated, %d rejected, %d API calls in %.1f s",
        sync,
        result.run_id,
        result.status,
        c.rows_read,
        c.created,
        c.updated,
        c.rejected,
        c.api_calls,
        result.duration_s,
    )
    return handle_run_end(store, tracker, sync, result.run_id, None)


def recheck_paused(
    store: StateStore,
    tracker: WarningTracker,
    sync: str,
    session_factory: SessionFactory,
    *,
    confirm_by_run: bool = False,
) -> bool:
    """Validate an automatically paused ``sync``; resume it when the check passes. The recovery notice
    goes out now, or with ``confirm_by_run`` (a scheduled sync, which runs next) once that run succeeds."""
    status = store.sync_status(sync)
    if not is_auto_pause(status):
        return False
    session = session_factory()
    try:
        session.validate(sync)
    except SfsyncError as exc:
        log.info("sync %s: still paused, its check fails: %s", sync, exc.message)
        return False
    except Exception:
        log.exception("sync %s: the check of a paused sync crashed; it stays paused", sync)
        return False
    finally:
        session.close()
    if not is_auto_pause(store.sync_status(sync)):
        return False  # resumed or paused by hand meanwhile
    resume_sync(store, sync, tracker=tracker, automatic=True, confirm_by_run=confirm_by_run)
    return True


def default_session_factory(
    project: Project, store: StateStore, *, transport: httpx.BaseTransport | None = None
) -> SessionFactory:
    """Sessions on ``project`` and ``store``; ``transport`` lets tests mount the emulator in-process."""

    def make() -> SyncSession:
        return SyncSession(project, store, transport=transport)

    return make


__all__ = [
    "OutcomeKind",
    "RunOutcome",
    "SessionFactory",
    "default_session_factory",
    "handle_run_end",
    "recheck_paused",
    "run_scheduled",
]
