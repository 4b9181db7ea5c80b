"""Warning rules: does a finished run put its sync in a warning state, for each rule configured?

A sync's ``warnings:`` block (``sfsync.config.Warnings``) turns rules on::

    on_failure               the run failed as a whole (status failed)
    rejected_rows_percent    rejected / rows sent (created + updated + rejected) above the threshold
    row_count_drop_percent   rows read fell by more than the threshold since the previous successful run
    slower_than              the run took longer than the interval ("30m")
    paused                   a scheduled run was skipped because the sync is paused (see tracker.py)

Each check answers firing or not with a one-line summary carrying the numbers. A rule that cannot be
judged from a run (the row-count drop of a failed run, whose rows_read means nothing) gives no verdict,
so its state stays as it was. These are pure functions of run records: the tracker decides what to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sfsync.config import Warnings, parse_interval
from sfsync.state import RunRecord, RunStatus


class Rule(StrEnum):
    """Names of the warning rules (the keys of ``warnings:`` and of a sync's stored warning state)."""

    ON_FAILURE = "on_failure"
    REJECTED_ROWS = "rejected_rows_percent"
    ROW_COUNT_DROP = "row_count_drop_percent"
    SLOWER_THAN = "slower_than"
    PAUSED = "paused"


FIRING = "firing"
"""Stored state of a rule whose warning went out and has not recovered yet."""
OK = "ok"
"""Stored state of a rule that is not (or no longer) in warning."""


@dataclass(frozen=True)
class RuleCheck:
    """The verdict of one rule on one run."""

    rule: Rule
    firing: bool
    summary: str


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _failure(run: RunRecord) -> RuleCheck:
    failed = run.status is RunStatus.FAILED
    summary = f"run {run.id} failed: {first_line(run.error)}" if failed else f"run {run.id} succeeded"
    return RuleCheck(Rule.ON_FAILURE, failed, summary)


def _rejected(run: RunRecord, limit: float) -> RuleCheck | None:
    sent = run.counts.sent
    if sent == 0:
        if run.status is not RunStatus.SUCCEEDED:
            return None
        return RuleCheck(Rule.REJECTED_ROWS, False, "no rows were sent, none rejected")
    percent = run.counts.rejected_percent
    firing = percent > limit
    word = "above" if firing else "within"
    return RuleCheck(
        Rule.REJECTED_ROWS,
        firing,
        f"{run.counts.rejected} of {sent} rows sent were rejected"
        f" ({percent:.1f}%, {word} the {limit:g}% limit)",
    )


def _row_drop(run: RunRecord, previous: RunRecord | None, limit: float) -> RuleCheck | None:
    if run.status is not RunStatus.SUCCEEDED or previous is None or previous.counts.rows_read == 0:
        return None
    before, now = previous.counts.rows_read, run.counts.rows_read
    drop = 100.0 * (before - now) / before
    firing = drop > limit
    if drop > 0:
        text = f"the model went from {before} to {now} rows since run {previous.id} (-{drop:.1f}%"
    else:
        text = f"the model has {now} rows, {before} at run {previous.id} (no drop"
    word = "above" if firing else "within"
    return RuleCheck(Rule.ROW_COUNT_DROP, firing, f"{text}, {word} the {limit:g}% limit)")


def _slow(run: RunRecord, limit_text: str) -> RuleCheck | None:
    if run.duration_s is None:
        return None
    limit = parse_interval(limit_text).total_seconds()
    firing = run.duration_s > limit
    word = "longer than" if firing else "within"
    return RuleCheck(
        Rule.SLOWER_THAN, firing, f"run {run.id} took {_duration(run.duration_s)} ({word} {limit_text})"
    )


def check_run(warnings: Warnings, run: RunRecord, previous_success: RunRecord | None) -> list[RuleCheck]:
    """Verdicts of the rules ``warnings`` turns on, for a finished ``run``.

    ``previous_success`` is the sync's last successful run before this one (for the row-count drop).
    A running or interrupted run gives no verdicts.
    """
    if run.status not in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        return []
    checks: list[RuleCheck | None] = []
    if warnings.on_failure:
        checks.append(_failure(run))
    if warnings.rejected_rows_percent is not None:
        checks.append(_rejected(run, warnings.rejected_rows_percent))
    if warnings.row_count_drop_percent is not None:
        checks.append(_row_drop(run, previous_success, warnings.row_count_drop_percent))
    if warnings.slower_than is not None:
        checks.append(_slow(run, warnings.slower_than))
    return [c for c in checks if c is not None]


def first_line(text: str | None, limit: int = 300) -> str:
    """The first line of an error text, shortened to ``limit`` characters."""
    if not text:
        return "no error text"
    line = text.strip().splitlines()[0] if text.strip() else "no error text"
    return line if len(line) <= limit else line[: limit - 1] + "…"


__all__ = ["FIRING", "OK", "Rule", "RuleCheck", "check_run", "first_line"]
