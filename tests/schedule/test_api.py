"""The public surface of ``sfsync.schedule``, ``sfsync.api`` and ``sfsync.alerts`` (what the CLI, web UI and
docs use)."""

from __future__ import annotations

import sfsync.alerts
import sfsync.schedule


def test_schedule_exports() -> None:
    assert set(sfsync.schedule.__all__) == {
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
    }
    for name in sfsync.schedule.__all__:
        assert hasattr(sfsync.schedule, name), name


def test_facade_exports() -> None:
    import sfsync.api

    for name in sfsync.api.__all__:
        assert hasattr(sfsync.api, name), name
    assert {"Project", "RunOutcome", "OutcomeKind", "StatusView", "plan_view", "run_result_view"} <= set(
        sfsync.api.__all__
    )


def test_alerts_exports() -> None:
    for name in sfsync.alerts.__all__:
        assert hasattr(sfsync.alerts, name), name
    assert {"WarningTracker", "Dispatcher", "Notice", "Redactor", "check_run", "Rule"} <= set(
        sfsync.alerts.__all__
    )


def test_layers_alerts_do_not_import_schedule_or_sync() -> None:
    import ast
    from pathlib import Path

    root = Path(sfsync.alerts.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(
                    ("sfsync.schedule", "sfsync.sync", "sfsync.cli", "sfsync.web")
                ), f"{path.name} imports {node.module}"
