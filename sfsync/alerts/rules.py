"""Warning rules: does a finished run put its sync in a warning state, for each rule configured?

A sync's ``warnings:`` block (``sfsync.config.Warnings``) turns rules on::

    on_failure               the run failed (status failed: an error, a failed Bulk job, every row rejected)
    rejected_rows_percent    rejected / rows sent (created + updated + rejected) above the threshold
                             (default 0: any rejected row; null turns the rule off)
    row_count_drop_percent   rows read fell by more than the threshold since the previous finished run
    slower_than              the run took longer than the interval ("30m")
    paused                   a scheduled run was skipped because the sync is paused (see tracker.py)

Each check answers firing or not with a one-line summary carrying the numbers. A rule that cannot be
judged from a run (the row-count drop of a failed run, whose rows_read means nothing) gives no verdict,
so its state stays as it was. These are pure functions of run records: the tracker decides what to send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sfsync.alerts.verdict import first_line, judge_run, rejection_text
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


def _failure(run: RunRecord, by_code: Mapping[str, int]) -> RuleCheck:
    failed = run.status is RunStatus.FAILED
    if failed:
        summary = f"run {run.id} failed: {judge_run(run, None, by_code).reason or 'no error text'}"
    else:
        summary = f"run {run.id} {run.status.value}"
    return RuleCheck(Rule.ON_FAILURE, failed, summary)


def _rejected(run: RunRecord, limit: float, by_code: Mapping[str, int]) -> RuleCheck | None:
    sent = run.counts.sent
    if sent == 0:
        if not run.status.ran_to_end:
            return None
        return RuleCheck(Rule.REJECTED_ROWS, False, "no rows were sent, none rejected")
    percent = run.counts.rejected_percent
    firing = percent > limit
    if not run.counts.rejected:
        return RuleCheck(Rule.REJECTED_ROWS, False, f"no row was rejected ({sent:,} sent)")
    word = "over" if firing else "within"
    limit_text = "no rejected row" if limit == 0 else f"the {limit:g}% limit"
    return RuleCheck(
        Rule.REJECTED_ROWS,
        firing,
        f"{rejection_text(run.counts.rejected, sent, by_code)} ({word} {limit_text})",
    )


def _row_drop(run: RunRecord, previous: RunRecord | None, limit: float) -> RuleCheck | None:
    if not run.status.ran_to_end or previous is None or previous.counts.rows_read == 0:
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


def check_run(
    warnings: Warnings,
    run: RunRecord,
    previous_success: RunRecord | None,
    by_code: Mapping[str, int] | None = None,
) -> list[RuleCheck]:
    """Verdicts of the rules ``warnings`` turns on, for a finished ``run``.

    ``previous_success`` is the sync's last run before this one that ran to its end (for the row-count
    drop); ``by_code`` the run's rejected rows by error code (named in the summaries). A running or
    interrupted run gives no verdicts.
    """
    if run.status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED):
        return []
    codes = by_code or {}
    checks: list[RuleCheck | None] = []
    if warnings.on_failure:
        checks.append(_failure(run, codes))
    if warnings.rejected_rows_percent is not None:
        checks.append(_rejected(run, warnings.rejected_rows_percent, codes))
    if warnings.row_count_drop_percent is not None:
        checks.append(_row_drop(run, previous_success, warnings.row_count_drop_percent))
    if warnings.slower_than is not None:
        checks.append(_slow(run, warnings.slower_than))
    return [c for c in checks if c is not None]


__all__ = ["FIRING", "OK", "Rule", "RuleCheck", "check_run", "first_line"]
