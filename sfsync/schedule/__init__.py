"""Schedules, the scheduler daemon, and pausing/resuming syncs.

- :func:`next_fire` / :func:`last_fire`: slots of every schedule kind, in UTC (``times.py``).
- :class:`Scheduler` (``tick``, ``run_forever``, ``stop``): runs due syncs (``scheduler.py``).
- :func:`pause_sync`, :func:`resume_sync`, :func:`describe_status`, :func:`status_view`: pauses by hand or
  by the sync itself (``pausing.py``); :func:`handle_run_end` after any run, so manual runs warn and pause
  like scheduled ones (``runner.py``).
"""

from __future__ import annotations

from sfsync.schedule.ledger import FireLedger, FireRecord, SchedulerLock, SchedulerRunningError, next_run_at
from sfsync.schedule.pausing import (
    AUTO_PAUSE_PREFIX,
    MANUAL_PAUSE_PREFIX,
    StatusView,
    describe_status,
    is_auto_pause,
    manual_cause,
    pause_cause_for,
    pause_sync,
    resume_sync,
    status_view,
)
from sfsync.schedule.reload import ProjectWatcher
from sfsync.schedule.runner import (
    OutcomeKind,
    RunOutcome,
    SessionFactory,
    default_session_factory,
    handle_run_end,
    recheck_paused,
    run_scheduled,
)
from sfsync.schedule.scheduler import Action, Clock, Decision, Scheduler, SchedulerSettings, SystemClock
from sfsync.schedule.times import describe_schedule, is_scheduled, last_fire, next_fire, schedule_fingerprint

__all__ = [
    "AUTO_PAUSE_PREFIX",
    "MANUAL_PAUSE_PREFIX",
    "Action",
    "Clock",
    "Decision",
    "FireLedger",
    "FireRecord",
    "OutcomeKind",
    "ProjectWatcher",
    "RunOutcome",
    "Scheduler",
    "SchedulerLock",
    "SchedulerRunningError",
    "SchedulerSettings",
    "SessionFactory",
    "StatusView",
    "SystemClock",
    "default_session_factory",
    "describe_schedule",
    "describe_status",
    "handle_run_end",
    "is_auto_pause",
    "is_scheduled",
    "last_fire",
    "manual_cause",
    "next_fire",
    "next_run_at",
    "pause_cause_for",
    "pause_sync",
    "recheck_paused",
    "resume_sync",
    "run_scheduled",
    "schedule_fingerprint",
    "status_view",
]
