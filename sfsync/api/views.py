"""One JSON shape per result type: what ``--json`` prints, what the web API answers, what a web job holds.

Values are JSON-safe (dates as ISO 8601 text, decimals as text, bytes summarised), so every caller prints
or serves them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sfsync.state import RunRecord
from sfsync.sync.engine import RunResult
from sfsync.sync.plan import Plan


def json_value(value: Any) -> Any:
    """``value`` as JSON can carry it (samples and rows hold dates, decimals, bytes from the warehouse)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula."""

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_cell(value: Any) -> str:
    """``value`` as a CSV cell that a spreadsheet shows as text, never runs as a formula.

    A cell starting with ``= + - @``, a tab or a carriage return gets a leading ``'`` (the OWASP advice
    against CSV injection); plain numbers such as ``-12.5`` are left as they are.
    """
    if value is None:
        return ""
    text = ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def plan_view(plan: Plan) -> dict[str, Any]:
    """A dry run: counts, operations, the API calls it would spend and sample rows."""
    return {
        "sync": plan.sync,
        "object": plan.target.object,
        "mode": plan.target.mode,
        "api": plan.api,
        "rows_read": plan.rows_read,
        "new": plan.new,
        "changed": plan.changed,
        "unchanged": plan.unchanged,
        "resent": plan.resent,
        "to_send": plan.to_send,
        "refused": plan.refused,
        "operations": plan.operations,
        "estimated_api_calls": plan.estimated_calls,
        "samples": [json_value(s) for s in plan.samples],
    }


def run_result_view(result: RunResult) -> dict[str, Any]:
    """What one run just did (``sfsync run --json``, the web UI's finished job)."""
    out = asdict(result)
    out["status"] = result.status.value
    out["counts"] = asdict(result.counts)
    out["sent"] = result.counts.sent
    out["rejected_percent"] = round(result.counts.rejected_percent, 2)
    out["failed_jobs"] = list(result.failed_jobs)
    out["recovered_runs"] = list(result.recovered_runs)
    return out


def run_record_view(run: RunRecord) -> dict[str, Any]:
    """One run of the history (``sfsync runs --json``, ``show-run --json``, the web API's runs)."""
    c = run.counts
    return {
        "id": run.id,
        "sync": run.sync,
        "trigger": run.trigger.value,
        "status": run.status.value,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_s": run.duration_s,
        "api": run.api,
        "rows_read": c.rows_read,
        "new": c.new,
        "changed": c.changed,
        "unchanged": c.unchanged,
        "created": c.created,
        "updated": c.updated,
        "rejected": c.rejected,
        "api_calls": c.api_calls,
        "error": run.error,
    }


__all__ = [
    "FORMULA_STARTS",
    "json_value",
    "plan_view",
    "run_record_view",
    "run_result_view",
    "spreadsheet_cell",
]
