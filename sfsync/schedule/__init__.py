"""Schedules and the scheduler daemon.

- :func:`next_fire` / :func:`last_fire`: slots of every schedule kind, in UTC (``times.py``).
- :class:`Scheduler` (``tick``, ``run_forever``, ``stop``): runs due syncs through the facade
  (``sfsync.api.Project``), which pauses and warns after each run (``scheduler.py``).
- :class:`FireLedger` and :func:`next_run_at`: the slot each sync last ran for (``ledger.py``).
"""

from __future__ import annotations

from sfsync.schedule.ledger import FireLedger, FireRecord, SchedulerLock, next_run_at
from sfsync.schedule.reload import ProjectWatcher
from sfsync.schedule.scheduler import Action, Clock, Decision, Scheduler, SchedulerSettings, SystemClock
from sfsync.schedule.times import describe_schedule, is_scheduled, last_fire, next_fire, schedule_fingerprint

__all__ = [
    "Action",
    "Clock",
    "Decision",
    "FireLedger",
    "FireRecord",
    "ProjectWatcher",
    "Scheduler",
    "SchedulerLock",
    "SchedulerSettings",
    "SystemClock",
    "describe_schedule",
    "is_scheduled",
    "last_fire",
    "next_fire",
    "next_run_at",
    "schedule_fingerprint",
]
