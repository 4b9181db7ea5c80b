"""The facade of sfsync: ``sfsync.Project.load("sfsync.yml").run("sync_name")``.

:class:`Project` is what the CLI, the scheduler daemon and the web UI call to check, describe, plan, run,
pause and resume syncs, and to read their history; embedding code gets the same guarantees (locks, crash
recovery, row results, snapshots, warnings and automatic pauses). The names below are what callers above
this layer need; they do not reach into the engine (``sfsync.sync``, ``sfsync.salesforce``,
``sfsync.sources``) themselves.
"""

from __future__ import annotations

from sfsync.alerts import RunVerdict, judge_run
from sfsync.api.health import SyncHealth, SyncState, progress_text, sync_health
from sfsync.api.logs import LogExport, export_logs
from sfsync.api.outcomes import OutcomeKind, RunOutcome, follow_run
from sfsync.api.pausing import StatusView, manual_cause, pause_cause_for, status_view
from sfsync.api.project import Project
from sfsync.api.views import (
    display_value,
    error_view,
    full_resync_warning,
    json_value,
    logs_view,
    plan_view,
    record_url,
    removals_view,
    row_hit_view,
    row_page_view,
    row_run_view,
    run_outcome_view,
    run_record_view,
    run_result_view,
    spreadsheet_cell,
)
from sfsync.salesforce.describe import FieldInfo, GlobalDescribe, ObjectDescribe
from sfsync.sources.types import LogicalType
from sfsync.state.rowsearch import SORT_KEYS, Outcome, RowHit, RowPage, RowRun, SentValue, SortKey
from sfsync.sync.check import CheckReport, SyncCheck
from sfsync.sync.engine import RunResult
from sfsync.sync.plan import Plan
from sfsync.sync.progress import (
    BulkJobChanged,
    Diffed,
    PhaseStarted,
    Planned,
    Progress,
    ProgressEvent,
    Reading,
    RunStarted,
    Sent,
)
from sfsync.sync.references import RejectedParents
from sfsync.sync.removals import RemovalPlan
from sfsync.sync.resync import FullResyncRisk
from sfsync.sync.validate import (
    Problem,
    compatible_field_types,
    required_on_create,
    validate_sync,
)

__all__ = [
    "SORT_KEYS",
    "BulkJobChanged",
    "CheckReport",
    "Diffed",
    "FieldInfo",
    "FullResyncRisk",
    "GlobalDescribe",
    "LogExport",
    "LogicalType",
    "ObjectDescribe",
    "Outcome",
    "OutcomeKind",
    "PhaseStarted",
    "Plan",
    "Planned",
    "Problem",
    "Progress",
    "ProgressEvent",
    "Project",
    "Reading",
    "RejectedParents",
    "RemovalPlan",
    "RowHit",
    "RowPage",
    "RowRun",
    "RunOutcome",
    "RunResult",
    "RunStarted",
    "RunVerdict",
    "Sent",
    "SentValue",
    "SortKey",
    "StatusView",
    "SyncCheck",
    "SyncHealth",
    "SyncState",
    "compatible_field_types",
    "display_value",
    "error_view",
    "export_logs",
    "follow_run",
    "full_resync_warning",
    "json_value",
    "judge_run",
    "logs_view",
    "manual_cause",
    "pause_cause_for",
    "plan_view",
    "progress_text",
    "record_url",
    "removals_view",
    "required_on_create",
    "row_hit_view",
    "row_page_view",
    "row_run_view",
    "run_outcome_view",
    "run_record_view",
    "run_result_view",
    "spreadsheet_cell",
    "status_view",
    "sync_health",
    "validate_sync",
]
