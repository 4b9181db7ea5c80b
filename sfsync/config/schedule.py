"""A sync's ``schedule:`` as a typed union (all times UTC).

::

    {manual: true}            run only when asked (also the default, and the shorthand ``manual``)
    {every: 15m}              a fixed interval: minutes (m), hours (h) or days (d), at least 1 minute
    {daily: "07:00"}          once a day at HH:MM
    {cron: "0 7 * * 1-5"}     a 5-field cron expression (validated with croniter)
    {any: [<schedule>, ...]}  runs when any of the listed schedules is due

Computing due times belongs to ``sfsync.schedule``; this module only parses and validates.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

_EVERY = re.compile(r"^\s*(\d+)\s*(m|h|d)\s*$")
_DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_interval(text: str) -> timedelta:
    """``"15m"`` / ``"4h"`` / ``"1d"`` → timedelta. Raises ValueError with the accepted forms."""
    m = _EVERY.match(text)
    if not m:
        raise ValueError(
            f"{text!r} is not an interval: write a whole number and a unit m, h or d, like 15m, 4h, 1d"
        )
    delta = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if delta < timedelta(minutes=1):
        raise ValueError("the interval must be at least 1m")
    return delta


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ManualSchedule(_Strict):
    manual: Literal[True] = True


class EverySchedule(_Strict):
    every: str

    @field_validator("every", mode="before")
    @classmethod
    def _check(cls, v: Any) -> Any:
        if isinstance(v, str):
            parse_interval(v)
        return v

    @property
    def interval(self) -> timedelta:
        return parse_interval(self.every)


class DailySchedule(_Strict):
    daily: str

    @field_validator("daily")
    @classmethod
    def _check(cls, v: str) -> str:
        if not _DAILY.match(v):
            raise ValueError(f'{v!r} is not a time of day: write "HH:MM" (24-hour clock, UTC), like "07:00"')
        return v

    @property
    def hour(self) -> int:
        return int(self.daily[:2])

    @property
    def minute(self) -> int:
        return int(self.daily[3:])


class CronSchedule(_Strict):
    cron: str

    @field_validator("cron")
    @classmethod
    def _check(cls, v: str) -> str:
        if len(v.split()) != 5 or not croniter.is_valid(v):
            raise ValueError(
                f"{v!r} is not a valid cron expression: write 5 fields (minute hour day month weekday), "
                'like "0 7 * * 1-5"'
            )
        return v


class AnySchedule(_Strict):
    any: list[Schedule] = Field(min_length=1)


_KEYS = ("manual", "every", "daily", "cron", "any")


def _schedule_tag(v: Any) -> str | None:
    if isinstance(v, BaseModel):
        return next((k for k in _KEYS if k in type(v).model_fields), None)
    if isinstance(v, dict):
        present = [k for k in _KEYS if k in v]
        return present[0] if len(present) == 1 else None
    return None


Schedule = Annotated[
    Annotated[ManualSchedule, Tag("manual")]
    | Annotated[EverySchedule, Tag("every")]
    | Annotated[DailySchedule, Tag("daily")]
    | Annotated[CronSchedule, Tag("cron")]
    | Annotated[AnySchedule, Tag("any")],
    Discriminator(
        _schedule_tag,
        custom_error_type="schedule",
        custom_error_message=(
            'a schedule is exactly one of {manual: true}, {every: 15m}, {daily: "07:00"}, '
            '{cron: "0 7 * * 1-5"} or {any: [...]}'
        ),
    ),
]

AnySchedule.model_rebuild()

__all__ = [
    "AnySchedule",
    "CronSchedule",
    "DailySchedule",
    "EverySchedule",
    "ManualSchedule",
    "Schedule",
    "parse_interval",
]
