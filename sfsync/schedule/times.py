"""When a schedule fires: the next slot after a moment, the last slot at or before it (all in UTC).

Slots of each kind:

- ``{manual: true}``: none; the sync runs only when someone asks.
- ``{every: 15m}``: multiples of the interval counted from the Unix epoch (1970-01-01 00:00 UTC), so
  ``every: 15m`` fires at :00, :15, :30 and :45, ``every: 4h`` at 00:00, 04:00, ... UTC, and ``every: 1d``
  at midnight UTC, whenever the scheduler started. An interval that does not divide a day (``every: 7m``)
  keeps its epoch rhythm across midnight.
- ``{daily: "07:00"}``: every day at that time.
- ``{cron: "0 7 * * 1-5"}``: whatever croniter says the expression matches (minute resolution).
- ``{any: [...]}``: the union of the slots of its members.

Naive datetimes are refused: every moment passed in must carry a timezone (it is converted to UTC).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from croniter import croniter

from sfsync.config.schedule import (
    AnySchedule,
    CronSchedule,
    DailySchedule,
    EverySchedule,
    ManualSchedule,
    Schedule,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Origin of ``every:`` slots."""

_ONE_MICROSECOND = timedelta(microseconds=1)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no timezone: schedule times are UTC, pass an aware datetime")
    return moment.astimezone(UTC)


def next_fire(schedule: Schedule, after: datetime) -> datetime | None:
    """The first slot strictly after ``after`` (UTC), or None for a manual schedule."""
    after = _utc(after)
    if isinstance(schedule, ManualSchedule):
        return None
    if isinstance(schedule, EverySchedule):
        step = schedule.interval
        return EPOCH + ((after - EPOCH) // step + 1) * step
    if isinstance(schedule, DailySchedule):
        today = after.replace(hour=schedule.hour, minute=schedule.minute, second=0, microsecond=0)
        return today if today > after else today + timedelta(days=1)
    if isinstance(schedule, CronSchedule):
        found: datetime = croniter(schedule.cron, after).get_next(datetime)
        return found.astimezone(UTC)
    if isinstance(schedule, AnySchedule):
        slots = [s for s in (next_fire(member, after) for member in schedule.any) if s is not None]
        return min(slots) if slots else None
    raise TypeError(f"unknown schedule kind {type(schedule).__name__}")


def last_fire(schedule: Schedule, at: datetime) -> datetime | None:
    """The latest slot at or before ``at`` (UTC), or None for a manual schedule."""
    at = _utc(at)
    if isinstance(schedule, ManualSchedule):
        return None
    if isinstance(schedule, EverySchedule):
        step = schedule.interval
        return EPOCH + ((at - EPOCH) // step) * step
    if isinstance(schedule, DailySchedule):
        today = at.replace(hour=schedule.hour, minute=schedule.minute, second=0, microsecond=0)
        return today if today <= at else today - timedelta(days=1)
    if isinstance(schedule, CronSchedule):
        # get_prev is strictly before its start: start a microsecond later so ``at`` itself counts
        found: datetime = croniter(schedule.cron, at + _ONE_MICROSECOND).get_prev(datetime)
        return found.astimezone(UTC)
    if isinstance(schedule, AnySchedule):
        slots = [s for s in (last_fire(member, at) for member in schedule.any) if s is not None]
        return max(slots) if slots else None
    raise TypeError(f"unknown schedule kind {type(schedule).__name__}")


def is_scheduled(schedule: Schedule) -> bool:
    """False for a manual schedule (and an ``any:`` made only of manual ones)."""
    if isinstance(schedule, ManualSchedule):
        return False
    if isinstance(schedule, AnySchedule):
        return any(is_scheduled(member) for member in schedule.any)
    return True


def describe_schedule(schedule: Schedule) -> str:
    """A short human description, e.g. ``every 15m``, ``daily at 07:00 UTC``, ``cron "0 7 * * 1-5" (UTC)``."""
    if isinstance(schedule, ManualSchedule):
        return "manual"
    if isinstance(schedule, EverySchedule):
        return f"every {schedule.every.strip()}"
    if isinstance(schedule, DailySchedule):
        return f"daily at {schedule.daily} UTC"
    if isinstance(schedule, CronSchedule):
        return f'cron "{schedule.cron}" (UTC)'
    if isinstance(schedule, AnySchedule):
        return "any of: " + "; ".join(describe_schedule(member) for member in schedule.any)
    raise TypeError(f"unknown schedule kind {type(schedule).__name__}")


def schedule_fingerprint(schedule: Schedule) -> str:
    """A stable text for a schedule; when it changes, the scheduler forgets the sync's last slot."""
    return json.dumps(schedule.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


__all__ = [
    "EPOCH",
    "describe_schedule",
    "is_scheduled",
    "last_fire",
    "next_fire",
    "schedule_fingerprint",
]
