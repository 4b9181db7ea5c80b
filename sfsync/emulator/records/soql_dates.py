"""SOQL date literals (``TODAY``, ``LAST_N_DAYS:30``, ``THIS_MONTH`` …) as half-open UTC date ranges.

A literal names a range ``[start, end)`` of days; comparisons use it the way Salesforce does:
``= X`` inside the range, ``< X`` before its start, ``> X`` after its end. The org's time zone is UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

FIXED = frozenset(
    {
        "YESTERDAY",
        "TODAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
    }
)
WITH_N = frozenset(
    {
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "N_DAYS_AGO",
        "LAST_N_WEEKS",
        "NEXT_N_WEEKS",
        "LAST_N_MONTHS",
        "NEXT_N_MONTHS",
        "LAST_N_YEARS",
        "NEXT_N_YEARS",
    }
)


def _month(d: date, delta: int) -> date:
    index = d.year * 12 + d.month - 1 + delta
    return date(index // 12, index % 12 + 1, 1)


def date_range(literal: str, today: date | None = None) -> tuple[date, date] | None:
    """``[start, end)`` of a date literal such as ``TODAY`` or ``LAST_N_DAYS:7``; None when unknown."""
    today = today or datetime.now(UTC).date()
    name, _, arg = literal.upper().partition(":")
    day = timedelta(days=1)
    if arg:
        if name not in WITH_N or not arg.isdigit():
            return None
        n = int(arg)
        week = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday
        month = today.replace(day=1)
        ranges = {
            "LAST_N_DAYS": (today - n * day, today + day),
            "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
            "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
            "LAST_N_WEEKS": (week - 7 * n * day, week),
            "NEXT_N_WEEKS": (week + 7 * day, week + 7 * (n + 1) * day),
            "LAST_N_MONTHS": (_month(month, -n), month),
            "NEXT_N_MONTHS": (_month(month, 1), _month(month, n + 1)),
            "LAST_N_YEARS": (date(today.year - n, 1, 1), date(today.year, 1, 1)),
            "NEXT_N_YEARS": (date(today.year + 1, 1, 1), date(today.year + n + 1, 1, 1)),
        }
        return ranges[name]
    if name not in FIXED:
        return None
    week = today - timedelta(days=(today.weekday() + 1) % 7)
    month = today.replace(day=1)
    year = date(today.year, 1, 1)
    fixed = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_WEEK": (week - 7 * day, week),
        "THIS_WEEK": (week, week + 7 * day),
        "NEXT_WEEK": (week + 7 * day, week + 14 * day),
        "LAST_MONTH": (_month(month, -1), month),
        "THIS_MONTH": (month, _month(month, 1)),
        "NEXT_MONTH": (_month(month, 1), _month(month, 2)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "THIS_YEAR": (year, date(today.year + 1, 1, 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), year),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
    }
    return fixed[name]


def range_sql(col: str, op: str, start: str, end: str) -> tuple[str, list[str]]:
    """SQL and parameters comparing ``col`` with the range ``[start, end)`` under a SOQL operator."""
    if op == "=":
        return f"({col} >= ? AND {col} < ?)", [start, end]
    if op == "!=":
        return f"({col} IS NULL OR {col} < ? OR {col} >= ?)", [start, end]
    if op == "<":
        return f"{col} < ?", [start]
    if op == "<=":
        return f"{col} < ?", [end]
    if op == ">":
        return f"{col} >= ?", [end]
    return f"{col} >= ?", [start]  # >=
