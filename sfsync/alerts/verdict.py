"""How a finished run reads, decided in one place: its status, whether it warns, and why, in one line.

The CLI (``sfsync run``, ``runs``, ``show-run``), the web UI, the JSON API and the notifications all show a
run through :func:`judge_run`, so they agree on the words: ``partial`` with "12% of rows rejected (340 of
2,843), mostly INVALID_EMAIL_ADDRESS" reads the same in a terminal, a browser and a Slack message.

Statuses (``sfsync.state.RunStatus``): ``succeeded`` (every row sent was accepted), ``partial`` (some rows
were rejected), ``failed`` (an error stopped the run, a Bulk job failed as a whole, or every row sent was
rejected), ``interrupted`` (the process stopped mid-run), ``running``. A run *warns* when its sync's
``warnings:`` say so: ``on_failure`` for a failed run, ``rejected_rows_percent`` (by default any rejected
row) for a run that rejected rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sfsync.config import Warnings
from sfsync.state import RunRecord, RunStatus

REASON_ERROR_CHARS = 300
"""Longest error text quoted in a run's one-line reason."""


def first_line(text: str | None, limit: int = 300) -> str:
    """The first line of an error text, shortened to ``limit`` characters."""
    if not text:
        return "no error text"
    line = text.strip().splitlines()[0] if text.strip() else "no error text"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def percent_text(value: float) -> str:
    """A share as people read it: ``12%``, ``2.5%``, ``0.04%``, ``<0.01%``."""
    if value >= 10 or value == 0 or float(value).is_integer():
        return f"{value:.0f}%"
    if value >= 1:
        return f"{value:.1f}%"
    if value >= 0.01:
        return f"{value:.2g}%"
    return "<0.01%"


def rejection_text(rejected: int, sent: int, by_code: Mapping[str, int]) -> str:
    """``12% of rows rejected (340 of 2,843), mostly INVALID_EMAIL_ADDRESS``, or for a run that had every
    row rejected ``all 2,843 rows sent were rejected with INVALID_EMAIL_ADDRESS``."""
    codes = [c for c, n in sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0])) if n]
    if rejected == sent:
        head = f"all {sent:,} rows sent were rejected" if sent > 1 else "the one row sent was rejected"
        if len(codes) == 1:
            return f"{head} with {codes[0]}"
        return f"{head}, mostly {codes[0]}" if codes else head
    head = f"{percent_text(100.0 * rejected / sent)} of rows rejected ({rejected:,} of {sent:,})"
    if len(codes) == 1:
        return f"{head}, all with {codes[0]}"
    return f"{head}, mostly {codes[0]}" if codes else head


@dataclass(frozen=True)
class RunVerdict:
    """A finished (or running) run as every surface shows it.

    ``warning``: the sync's warnings fire on this run. ``reason``: why it is not a plain success (None
    when it is one, or still running). ``rejected_percent``: rejected share of the rows sent.
    """

    status: RunStatus
    warning: bool
    reason: str | None
    rejected_percent: float
    stopped_by_error: bool

    @property
    def ok(self) -> bool:
        """Nothing for anyone to look at: the run succeeded, or its rejected rows are within the limit."""
        return self.status.ran_to_end and not self.warning

    def exit_code(self, *, allow_rejected: bool = False) -> int:
        """``sfsync run``'s exit code for this run (docs/cli.md#exit-codes): 0 when ``ok``, else 1.

        ``allow_rejected``: rejected rows count as success; only a run that stopped on an error (or was
        interrupted) exits 1.
        """
        if self.status is RunStatus.INTERRUPTED or self.stopped_by_error:
            return 1
        if allow_rejected or self.ok:
            return 0
        return 1

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status.value,
            "warning": self.warning,
            "reason": self.reason,
            "rejected_percent": round(self.rejected_percent, 2),
        }


def judge_run(run: RunRecord, warnings: Warnings | None, by_code: Mapping[str, int]) -> RunVerdict:
    """The verdict on ``run`` under its sync's ``warnings`` (None: the sync is gone from the project, so
    only the run's own status counts). ``by_code``: its rejected rows by error code."""
    c = run.counts
    percent = c.rejected_percent
    stopped = run.status is RunStatus.FAILED and bool(run.error)
    if run.status is RunStatus.RUNNING:
        return RunVerdict(run.status, False, None, percent, False)
    reason: str | None = None
    if run.status in (RunStatus.FAILED, RunStatus.INTERRUPTED) and run.error:
        reason = first_line(run.error, REASON_ERROR_CHARS)
    elif c.rejected:
        reason = rejection_text(c.rejected, c.sent, by_code)
    warning = False
    if warnings is not None:
        if run.status is RunStatus.FAILED:
            warning = warnings.on_failure
        limit = warnings.rejected_rows_percent
        if limit is not None and c.rejected and percent > limit and run.status is not RunStatus.INTERRUPTED:
            warning = True
    return RunVerdict(run.status, warning, reason, percent, stopped)


__all__ = ["REASON_ERROR_CHARS", "RunVerdict", "first_line", "judge_run", "percent_text", "rejection_text"]
