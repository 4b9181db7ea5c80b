"""The facade of sfsync: ``sfsync.Project.load("sfsync.yml").run("sync_name")``.

:class:`Project` is what the CLI, the scheduler daemon and the web UI call to check, describe, plan, run,
pause and resume syncs, and to read their history; embedding code gets the same guarantees (locks, crash
recovery, row results, snapshots, warnings and automatic pauses). The names below are what callers above
this layer need; they do not reach into the engine (``sfsync.sync``, ``sfsync.salesforce``,
``sfsync.sources``) themselves.
"""

from __future__ import annotations

from sfsync.api.outcomes import OutcomeKind, RunOutcome, follow_run
from sfsync.api.pausing import StatusView, manual_cause, pause_cause_for, status_view
from sfsync.api.project import Project
from sfsync.api.views import json_value, plan_view, run_record_view, run_result_view, spreadsheet_cell
from sfsync.salesforce.describe import FieldInfo, GlobalDescribe, ObjectDescribe
from sfsync.sources.types import LogicalType
from sfsync.sync.engine import RunResult
from sfsync.sync.plan import Plan
from sfsync.sync.progress import Diffed, Planned, Progress, ProgressEvent, Reading, RunStarted, Sent
from sfsync.sync.validate import (
    CheckReport,
    Problem,
    SyncCheck,
    compatible_field_types,
    required_on_create,
    validate_sync,
)

__all__ = [
    "CheckReport",
    "Diffed",
    "FieldInfo",
    "GlobalDescribe",
    "LogicalType",
    "ObjectDescribe",
    "OutcomeKind",
    "Plan",
    "Planned",
    "Problem",
    "Progress",
    "ProgressEvent",
    "Project",
    "Reading",
    "RunOutcome",
    "RunResult",
    "RunStarted",
    "Sent",
    "StatusView",
    "SyncCheck",
    "compatible_field_types",
    "follow_run",
    "json_value",
    "manual_cause",
    "pause_cause_for",
    "plan_view",
    "required_on_create",
    "run_record_view",
    "run_result_view",
    "spreadsheet_cell",
    "status_view",
    "validate_sync",
]
