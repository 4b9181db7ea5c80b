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

from sfsync.alerts import RunVerdict
from sfsync.api.logs import LogExport
from sfsync.api.outcomes import OutcomeKind, RunOutcome
from sfsync.errors import SfsyncError, SyncRefused
from sfsync.state import RunRecord
from sfsync.state.rowsearch import RowHit, RowPage, RowRun
from sfsync.sync.engine import RunResult
from sfsync.sync.plan import Plan
from sfsync.sync.removals import RemovalPlan


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


def display_value(value: Any) -> str:
    """A warehouse value as the CLI and the web UI print it: ``true``/``false``, ``null``, dates in ISO
    8601 (``2026-01-05``, ``2026-01-05 10:15:00+00:00``), decimals as written, text as it is."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(value, "g") if abs(value) < 1e16 else repr(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple):
        return ", ".join(display_value(v) for v in value)
    return str(value)


def full_resync_warning(plan: Plan) -> str | None:
    """What a full resync of an ``insert`` sync does that people may not expect (None otherwise)."""
    if not plan.full_resync or plan.target.mode != "insert" or not plan.to_send:
        return None
    return (
        f"full resync of an insert sync: creates {plan.to_send:,} new {plan.target.object} record(s), one "
        "per row, even for rows earlier runs created records for already (those are not touched: "
        "duplicates)"
    )


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
        "mappings": list(plan.mappings),
        "full_resync": plan.full_resync,
        "planner": plan.planner,
        "rows_out": plan.rows_out if plan.rows_out is not None else plan.rows_read,
        "creates": plan.to_send if plan.target.mode == "insert" else None,
        "warning": full_resync_warning(plan),
        "samples": [json_value(s) for s in plan.samples],
        "removals": removals_view(plan.removals),
    }


def removals_view(removals: RemovalPlan | None) -> dict[str, Any] | None:
    """What a run does to the records of rows that left the model (``on_row_removed``; None: nothing)."""
    if removals is None:
        return None
    return {
        "action": removals.action,
        "operation": removals.target.mode,
        "api": removals.api,
        "rows_gone": removals.gone,
        "of_rows": removals.previous_rows,
        "to_send": removals.to_send,
        "refused": removals.refused,
        "nothing_to_remove": removals.nothing_to_remove,
        "estimated_api_calls": removals.estimated_calls,
        "sample_keys": list(removals.samples),
        "blocked": removals.blocked,
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


def run_record_view(run: RunRecord, verdict: RunVerdict | None = None) -> dict[str, Any]:
    """One run of the history (``sfsync runs --json``, ``show-run --json``, the web API's runs).

    With its ``verdict``: ``warning`` (the sync's warnings fire on it) and ``reason`` (one line: why it is
    not a plain success). A running run carries its ``progress`` (phase, rows, Bulk jobs)."""
    c = run.counts
    out = {
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
        "removed": c.removed,
        "api_calls": c.api_calls,
        "rejected_percent": round(c.rejected_percent, 2),
        "error": run.error,
        "warning": verdict.warning if verdict else False,
        "reason": verdict.reason if verdict else None,
        "progress": run.progress.to_dict() if run.progress and not run.finished else None,
    }
    return out


def run_outcome_view(outcome: RunOutcome) -> dict[str, Any]:
    """How one attempt to run a sync ended (``sfsync run --json``, one object per sync).

    A run that finished has every field of :func:`run_result_view`; every attempt has ``sync``, ``status``
    (``succeeded`` ``partial`` ``failed`` ``interrupted``, or ``busy`` when another process runs the sync),
    ``warning``, ``reason``, ``error``, ``run_id``, ``paused`` (the cause when the run paused the sync) and
    ``logs`` (what was written to the sync log tables, when the project has ``logs:``).
    """
    out: dict[str, Any] = {"sync": outcome.sync, "run_id": outcome.run_id}
    if outcome.result is not None:
        out.update(run_result_view(outcome.result))
    v = outcome.verdict
    status = v.status.value if v is not None else outcome.kind.value
    if outcome.kind is OutcomeKind.BUSY:
        status = "busy"
    out.update(
        status=status,
        warning=v.warning if v is not None else False,
        reason=v.reason if v is not None else (outcome.error.splitlines()[0] if outcome.error else None),
        error=outcome.error,
        paused=outcome.paused_cause,
        logs=logs_view(outcome.logs) if outcome.logs is not None else None,
    )
    return out


def logs_view(export: LogExport) -> dict[str, Any]:
    """What was written to the sync log tables: ``runs`` (ids), ``rows``, ``where``, ``error``."""
    return {"runs": list(export.runs), "rows": export.rows, "where": export.where, "error": export.error}


def record_url(instance_url: str | None, object_name: str | None, record_id: str | None) -> str | None:
    """The record's page in Lightning Experience, when the org's URL is known.

    Salesforce's record page URL is ``/lightning/r/{objectApiName}/{recordId}/{actionName}`` (the
    ``standard__recordPage`` page reference: https://developer.salesforce.com/docs/atlas.en-us.220.0.lightning.meta/lightning/components_navigation_page_definitions.htm).
    """
    if not instance_url or not object_name or not record_id:
        return None
    return f"{instance_url.rstrip('/')}/lightning/r/{object_name}/{record_id}/view"


def row_hit_view(hit: RowHit) -> dict[str, Any]:
    """One row result in a search (``sfsync rows --json``, ``GET /api/syncs/{name}/rows``)."""
    return {
        "run_id": hit.run_id,
        "primary_key": hit.primary_key,
        "operation": hit.operation,
        "success": hit.success,
        "record_id": hit.record_id,
        "error_code": hit.error_code,
        "message": hit.message,
        "fields": list(hit.fields),
    }


def row_page_view(page: RowPage) -> dict[str, Any]:
    """A page of a row search: ``rows``, ``total`` matching, ``offset`` and ``limit``."""
    return {
        "rows": [row_hit_view(h) for h in page.rows],
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
    }


def row_run_view(item: RowRun) -> dict[str, Any]:
    """One row in one run (``sfsync show-row --json``): the run, the outcome, and the values it sent."""
    hit = item.result
    return {
        "run_id": item.run.id,
        "started_at": item.run.started_at.isoformat(),
        "trigger": item.run.trigger.value,
        "run_status": item.run.status.value,
        **{k: v for k, v in row_hit_view(hit).items() if k != "run_id"},
        "object": item.object,
        "record_url": record_url(item.instance_url, item.object, hit.record_id),
        "key_field": item.key_field,
        "key_value": json_value(item.key_value),
        "values": [
            {"field": v.field, "column": v.column, "value": json_value(v.value), "written": v.written}
            for v in item.values
        ],
    }


_ERROR_FIELDS = {
    "what": "what",
    "name": "name",
    "sync": "sync",
    "file": "file",
    "source": "source",
    "model": "model",
    "object": "object",
    "code": "code",
    "status": "http_status",
    "job_id": "job_id",
}


def error_view(error: BaseException, exit_code: int | None = None) -> dict[str, Any]:
    """An error as ``--json`` prints it: ``{"error": {type, message, hint, problems, exit_code, ...}}``.

    ``problems`` lists what the error groups beyond its message (each mapping problem of a ConfigError);
    the structured fields an error carries (``what``/``name`` of a NotFoundError, ``sync`` of a conflict,
    ``code``/``http_status``/``object``/``job_id`` of a Salesforce error, ``file`` of a configuration error,
    ``run_id`` of the run it ended) are included when set. Messages never hold a secret.
    """
    if isinstance(error, SfsyncError):
        code = error.exit_code if exit_code is None else exit_code
        body: dict[str, Any] = {
            "type": type(error).__name__,
            "message": error.message,
            "hint": error.hint,
            "problems": error.other_problems,
            "exit_code": code,
        }
        if isinstance(error, SyncRefused):
            body["problems"] = [json_value(getattr(i, "__dict__", {"message": str(i)})) for i in error.items]
        for attr, key in _ERROR_FIELDS.items():
            value = getattr(error, attr, None)
            if value is not None:
                body[key] = json_value(value)
        if error.run_id is not None:
            body["run_id"] = error.run_id
        return {"error": body}
    return {
        "error": {
            "type": type(error).__name__,
            "message": str(error),
            "hint": None,
            "problems": [],
            "exit_code": 1 if exit_code is None else exit_code,
        }
    }


__all__ = [
    "FORMULA_STARTS",
    "display_value",
    "error_view",
    "full_resync_warning",
    "json_value",
    "logs_view",
    "plan_view",
    "record_url",
    "row_hit_view",
    "row_page_view",
    "row_run_view",
    "run_outcome_view",
    "run_record_view",
    "run_result_view",
    "spreadsheet_cell",
]
