"""Slots of every schedule kind, in UTC: the next one after a moment, the last one at or before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import TypeAdapter

from sfsync.config import Schedule
from sfsync.schedule import describe_schedule, is_scheduled, last_fire, next_fire, schedule_fingerprint

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Schedule)


def sched(data: Any) -> Any:
    return _ADAPTER.validate_python(data)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (schedule, moment, next slot after it, last slot at or before it)
CASES = [
    ({"every": "15m"}, "2026-01-05 10:07", "2026-01-05 10:15", "2026-01-05 10:00"),
    ({"every": "15m"}, "2026-01-05 10:15", "2026-01-05 10:30", "2026-01-05 10:15"),
    ({"every": "4h"}, "2026-01-05 10:07", "2026-01-05 12:00", "2026-01-05 08:00"),
    ({"every": "1d"}, "2026-01-05 10:07", "2026-01-06 00:00", "2026-01-05 00:00"),
    ({"every": "7m"}, "2026-01-05 00:00:30", "2026-01-05 00:01", "2026-01-04 23:54"),  # epoch rhythm
    ({"daily": "07:00"}, "2026-01-05 06:59:59", "2026-01-05 07:00", "2026-01-04 07:00"),
    ({"daily": "07:00"}, "2026-01-05 07:00", "2026-01-06 07:00", "2026-01-05 07:00"),
    ({"daily": "23:30"}, "2026-12-31 23:45", "2027-01-01 23:30", "2026-12-31 23:30"),
    # 2026-01-09 is a Friday: the next weekday 07:00 is Monday the 12th
    ({"cron": "0 7 * * 1-5"}, "2026-01-09 08:00", "2026-01-12 07:00", "2026-01-09 07:00"),
    ({"cron": "0 7 * * 1-5"}, "2026-01-12 07:00", "2026-01-13 07:00", "2026-01-12 07:00"),
    ({"cron": "*/20 9-10 * * *"}, "2026-01-05 10:41", "2026-01-06 09:00", "2026-01-05 10:40"),
    (
        {"any": [{"daily": "07:00"}, {"every": "4h"}]},
        "2026-01-05 05:00",
        "2026-01-05 07:00",
        "2026-01-05 04:00",
    ),
    (
        {"any": [{"daily": "07:00"}, {"every": "4h"}]},
        "2026-01-05 07:30",
        "2026-01-05 08:00",
        "2026-01-05 07:00",
    ),
    (
        {"any": [{"manual": True}, {"cron": "30 6 * * *"}]},
        "2026-01-05 07:30",
        "2026-01-06 06:30",
        "2026-01-05 06:30",
    ),
]


@pytest.mark.parametrize(("data", "moment", "after", "before"), CASES)
def test_slots(data: Any, moment: str, after: str, before: str) -> None:
    schedule = sched(data)
    assert next_fire(schedule, t(moment)) == t(after)
    assert last_fire(schedule, t(moment)) == t(before)
    assert is_scheduled(schedule)


def test_next_after_last_is_the_following_slot() -> None:
    schedule = sched({"cron": "0 7 * * 1-5"})
    moment = t("2026-01-05 00:00")
    seen = []
    for _ in range(6):
        nxt = next_fire(schedule, moment)
        assert nxt is not None
        seen.append(nxt)
        assert last_fire(schedule, nxt) == nxt
        moment = nxt
    assert [s.day for s in seen] == [5, 6, 7, 8, 9, 12]


def test_manual_never_fires() -> None:
    for data in ({"manual": True}, {"any": [{"manual": True}]}):
        schedule = sched(data)
        assert next_fire(schedule, t("2026-01-05 10:00")) is None
        assert last_fire(schedule, t("2026-01-05 10:00")) is None
        assert not is_scheduled(schedule)
    assert describe_schedule(sched({"manual": True})) == "manual"


def test_other_timezones_are_converted_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 1, 5, 7, 30, tzinfo=paris)  # 06:30 UTC
    assert next_fire(sched({"daily": "07:00"}), moment) == t("2026-01-05 07:00")
    fire = next_fire(sched({"daily": "07:00"}), moment)
    assert fire is not None and fire.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        next_fire(sched({"every": "15m"}), datetime(2026, 1, 5, 10, 0))


def test_descriptions_and_fingerprints() -> None:
    assert describe_schedule(sched({"every": "15m"})) == "every 15m"
    assert describe_schedule(sched({"daily": "07:00"})) == "daily at 07:00 UTC"
    assert describe_schedule(sched({"cron": "0 7 * * 1-5"})) == 'cron "0 7 * * 1-5" (UTC)'
    assert describe_schedule(sched({"any": [{"every": "1h"}, {"daily": "07:00"}]})) == (
        "any of: every 1h; daily at 07:00 UTC"
    )
    assert schedule_fingerprint(sched({"every": "15m"})) == schedule_fingerprint(sched({"every": "15m"}))
    assert schedule_fingerprint(sched({"every": "15m"})) != schedule_fingerprint(sched({"every": "30m"}))
