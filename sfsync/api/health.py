"""How a sync is doing, in one word and one line: what ``sfsync runs``, the web UI and its API all show.

:func:`sync_health` combines the sync's pause state, the run in progress (if any) and the verdict on its
last finished run (``sfsync.alerts.judge_run``) into a state and the reason for it:

==========  =================================================================================
state       when (first that applies)
==========  =================================================================================
paused      paused by a person, or by itself (a broken source, mapping or login); reason: the cause
running     a run holds the sync's lock now; reason: its phase and rows sent so far
never run   no run in the history
failing     the last run failed or was interrupted; reason: its error, or "all N rows sent were
            rejected…"
warning     the last run warns (by default any rejected row), or another rule fires (row count
            drop, slow run); reason: "12% of rows rejected (340 of 2,843), mostly …"
healthy     otherwise; reason: None, or the rejected rows a sync tolerates ("1% of rows rejected…")
==========  =================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sfsync.alerts import Rule, RunVerdict, check_run, judge_run
from sfsync.api.pausing import StatusView, status_view
from sfsync.config import Project
from sfsync.state import RunPhase, RunProgress, RunRecord, RunStatus, StateStore

SyncState = Literal["healthy", "warning", "failing", "paused", "never run", "running"]

HISTORY_LOOKBACK = 20
"""Runs of a sync read to find its last finished run and the one before it (a few may be in flight)."""


def progress_text(progress: RunProgress | None) -> str:
    """``sending: 1,200 of 2,843 rows, 2 Bulk jobs`` (what a running run is doing, in one line)."""
    if progress is None:
        return "starting"
    text = progress.phase.value
    if progress.phase in (RunPhase.SENDING, RunPhase.COLLECTING) and progress.to_send:
        text += f": {progress.sent:,} of {progress.to_send:,} rows have an outcome"
    elif progress.phase in (RunPhase.DIFFING, RunPhase.PLANNING) and progress.rows_read:
        text += f": {progress.rows_read:,} rows read"
    if progress.jobs:
        done = sum(1 for j in progress.jobs if j.collected)
        text += f", Bulk jobs {done} of {len(progress.jobs)} collected"
    return text


@dataclass(frozen=True)
class SyncHealth:
    """A sync's state and why, its pause status, its last finished run and that run's verdict."""

    sync: str
    state: SyncState
    reason: str | None
    status: StatusView
    last_run: RunRecord | None
    verdict: RunVerdict | None
    running: RunRecord | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sync": self.sync,
            "state": self.state,
            "reason": self.reason,
            "running_run_id": self.running.id if self.running else None,
            "last_run_id": self.last_run.id if self.last_run else None,
            "last_verdict": self.verdict.to_dict() if self.verdict else None,
        }


def _firing_summaries(project: Project, store: StateStore, sync: str, run: RunRecord) -> list[str]:
    """Summaries of the rules (other than the rejected rows) that fire on ``run``."""
    warnings = project.syncs[sync].warnings
    earlier = [r for r in store.runs(sync, HISTORY_LOOKBACK) if r.id < run.id and r.status.ran_to_end]
    checks = check_run(warnings, run, earlier[0] if earlier else None)
    return [c.summary for c in checks if c.firing and c.rule not in (Rule.REJECTED_ROWS, Rule.ON_FAILURE)]


def sync_health(project: Project, store: StateStore | None, sync: str) -> SyncHealth:
    """How ``sync`` is doing (``store`` None: the project has no state yet, so it never ran)."""
    if store is None:
        view = StatusView(sync, paused=False, automatic=False, cause=None, since=None, firing=())
        return SyncHealth(sync, "never run", None, view, None, None, None)
    view = status_view(store, sync)
    recent = store.runs(sync, HISTORY_LOOKBACK)
    owner = store.lock_owner(sync)
    running = next(
        (r for r in recent if r.status is RunStatus.RUNNING and owner is not None and owner.run_id == r.id),
        None,
    )
    last = next((r for r in recent if r.finished), None)
    verdict = None
    if last is not None:
        by_code = store.rejected_counts(last.id) if last.counts.rejected else {}
        sync_cfg = project.syncs.get(sync)
        verdict = judge_run(last, sync_cfg.warnings if sync_cfg else None, by_code)
    state: SyncState
    reason = verdict.reason if verdict else None
    if view.paused:
        state, reason = "paused", view.cause
    elif running is not None:
        state, reason = "running", f"run {running.id}: {progress_text(running.progress)}"
    elif last is None or verdict is None:
        state = "never run"
    elif last.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
        state = "failing"
    elif verdict.warning:
        state = "warning"
    elif view.firing and sync in project.syncs:
        state = "warning"
        others = _firing_summaries(project, store, sync, last)
        reason = "; ".join(others) or f"warnings firing: {', '.join(view.firing)}"
    else:
        state = "healthy"
    return SyncHealth(sync, state, reason, view, last, verdict, running)


__all__ = ["HISTORY_LOOKBACK", "SyncHealth", "SyncState", "progress_text", "sync_health"]
