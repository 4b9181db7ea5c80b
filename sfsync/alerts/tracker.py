"""Edge-triggered warnings: notify when a sync enters a warning state, and once when it leaves it.

Each rule's state (``firing`` / ``ok``) lives in the state store (``set_warning_state``), so a CLI run,
the scheduler and the web UI share it and a restart does not send a warning again. Events:

- :meth:`WarningTracker.after_run` evaluates the rules on a finished run (and, when the run made the sync
  pause itself, marks ``paused`` as firing in the same notice: one message for one break).
- :meth:`WarningTracker.skipped_while_paused`: a scheduled run was skipped; the ``paused`` rule (when
  configured) fires once.
- :meth:`WarningTracker.resumed`: the sync runs again; ``paused`` recovers, and after an automatic resume
  (the check that paused it passes again) ``on_failure`` recovers too: one message for one recovery. A
  scheduled sync that resumed by itself waits for its next run to confirm: that run's success sends the
  recovery, its failure pauses it again without a new warning.

An automatic pause is always notified (to ``warnings.notify``), whether or not ``paused: true`` is set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sfsync.alerts.message import ErrorCount, Notice, RuleChange
from sfsync.alerts.notifiers import Dispatcher
from sfsync.alerts.rules import FIRING, OK, Rule, RuleCheck, check_run
from sfsync.alerts.verdict import first_line
from sfsync.config import Project
from sfsync.errors import ConfigError
from sfsync.state import RunRecord, RunStatus, StateStore

log = logging.getLogger(__name__)

TOP_ERROR_CODES = 3
"""How many rejection codes a notice lists (most frequent first)."""

EXAMPLE_MESSAGE_CHARS = 300
"""Longest Salesforce error message quoted in a notice's example row."""

RESUMING = "resuming"
"""State of ``paused`` after an automatic resume, until a run confirms (recovery) or breaks (paused again)."""

_RULES = frozenset(r.value for r in Rule)
_TRACKER_MUTEX = threading.Lock()  # read-modify-write of warning states within this process


def _now() -> datetime:
    return datetime.now(UTC)


class WarningTracker:
    """Evaluates warning rules, keeps their state in the store, sends notices through a dispatcher."""

    def __init__(
        self,
        project: Project,
        store: StateStore,
        dispatcher: Dispatcher | None = None,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.project = project
        self.store = store
        self.dispatcher = dispatcher or Dispatcher.for_project(project)
        self._clock = clock

    # -- events ----------------------------------------------------------------------------------------
    def after_run(self, sync: str, run_id: int | None, *, paused_cause: str | None = None) -> Notice | None:
        """Evaluate ``sync``'s rules on finished run ``run_id``; ``paused_cause`` when it paused itself.

        ``run_id`` is None when the run failed before it was recorded (then only the pause is notified).
        """
        run = self.store.get_run(run_id) if run_id is not None else None
        checks: list[RuleCheck] = []
        if run is not None and sync in self.project.syncs:
            previous = self._previous_success(sync, run.id)
            by_code = self.store.rejected_counts(run.id) if run.counts.rejected else {}
            checks = check_run(self.project.syncs[sync].warnings, run, previous, by_code)
        with _TRACKER_MUTEX:
            state = dict(self.store.sync_status(sync).warning_state)
            changes = _transitions(checks, state)
            paused_state = state.get(Rule.PAUSED)
            if paused_cause is not None:
                if paused_state not in (FIRING, RESUMING):
                    changes.append(RuleChange(Rule.PAUSED, True, f"the sync paused itself: {paused_cause}"))
                state[Rule.PAUSED] = FIRING  # after an unconfirmed resume: paused again, silently
            elif paused_state == RESUMING and run is not None and run.status.ran_to_end:
                changes.append(
                    RuleChange(Rule.PAUSED, False, f"the sync resumed by itself and run {run.id} succeeded")
                )
                state[Rule.PAUSED] = OK
            self.store.set_warning_state(sync, state)
        return self._send(sync, changes, state, run=run, pause_cause=paused_cause)

    def skipped_while_paused(self, sync: str, cause: str | None) -> Notice | None:
        """A scheduled run of a paused sync was skipped: fire ``paused`` once if the sync asks for it."""
        if not self.project.syncs[sync].warnings.paused:
            return None
        with _TRACKER_MUTEX:
            state = dict(self.store.sync_status(sync).warning_state)
            if state.get(Rule.PAUSED) == FIRING:
                return None
            state[Rule.PAUSED] = FIRING
            self.store.set_warning_state(sync, state)
        summary = f"a scheduled run was skipped because the sync is paused ({cause or 'no cause given'})"
        return self._send(sync, [RuleChange(Rule.PAUSED, True, summary)], state, pause_cause=cause)

    def resumed(
        self, sync: str, previous_cause: str | None, *, automatic: bool, confirm_by_run: bool = False
    ) -> Notice | None:
        """The sync was resumed; ``automatic`` when the check that paused it passes again.

        With ``confirm_by_run`` (an automatic resume of a scheduled sync) nothing is sent yet: the next run
        sends the recovery if it succeeds, or pauses the sync again silently if it breaks the same way
        (a check can pass while the run still fails, e.g. on duplicate keys: no warning/recovery flapping).
        """
        with _TRACKER_MUTEX:
            state = dict(self.store.sync_status(sync).warning_state)
            if automatic and confirm_by_run:
                if state.get(Rule.PAUSED) == FIRING:
                    state[Rule.PAUSED] = RESUMING
                    self.store.set_warning_state(sync, state)
                return None
            changes: list[RuleChange] = []
            how = "automatically: its check passes again" if automatic else "by hand"
            was = f"; it had been paused: {previous_cause}" if previous_cause else ""
            if state.get(Rule.PAUSED) in (FIRING, RESUMING):
                changes.append(RuleChange(Rule.PAUSED, False, f"the sync was resumed {how}{was}"))
                state[Rule.PAUSED] = OK
            if automatic and state.get(Rule.ON_FAILURE) == FIRING:
                changes.append(
                    RuleChange(Rule.ON_FAILURE, False, "what made its runs fail is fixed (the check passes)")
                )
                state[Rule.ON_FAILURE] = OK
            if changes:
                self.store.set_warning_state(sync, state)
        return self._send(sync, changes, state)

    # -- helpers ---------------------------------------------------------------------------------------
    def _previous_success(self, sync: str, run_id: int) -> RunRecord | None:
        """The last run before ``run_id`` that ran to its end (succeeded or partial)."""
        found = [
            run
            for status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
            for run in self.store.runs(sync, limit=2, status=status)
            if run.id < run_id
        ]
        return max(found, key=lambda r: r.id) if found else None

    def _errors(self, run: RunRecord | None) -> tuple[tuple[ErrorCount, ...], str | None]:
        if run is None or run.counts.rejected == 0:
            return (), None
        counts = self.store.rejected_counts(run.id)
        top = tuple(ErrorCount(code, n) for code, n in list(counts.items())[:TOP_ERROR_CODES])
        if not top:
            return (), None
        rows = self.store.rejected_rows(run.id, top[0].code, limit=1)
        if not rows:
            return top, None
        row = rows[0]
        try:
            key_name = self.project.resolve_sync(run.sync).model.primary_key
        except (ConfigError, KeyError):
            key_name = "primary key"
        fields = f" (fields: {', '.join(row.fields)})" if row.fields else ""
        message = first_line(row.message, EXAMPLE_MESSAGE_CHARS) if row.message else ""
        return top, f"{key_name}={row.primary_key}: {row.error_code}: {message}{fields}"

    def _send(
        self,
        sync: str,
        changes: list[RuleChange],
        state: dict[str, str],
        *,
        run: RunRecord | None = None,
        pause_cause: str | None = None,
    ) -> Notice | None:
        if not changes:
            return None
        changed = {c.rule for c in changes}
        still = tuple(
            Rule(r) for r, s in sorted(state.items()) if s == FIRING and r not in changed and r in _RULES
        )
        top, example = self._errors(run)
        sync_cfg = self.project.syncs.get(sync)
        notice = Notice(
            sync=sync,
            at=self._clock(),
            changes=tuple(changes),
            object=sync_cfg.object if sync_cfg else None,
            run=run,
            top_errors=top,
            example=example,
            pause_cause=pause_cause,
            still_firing=still,
        )
        log.warning(
            "sync %s: %s (%s)", sync, notice.kind.value, ", ".join(f"{c.rule.value}" for c in changes)
        )
        self.dispatcher.send(notice, sync_cfg.warnings.notify if sync_cfg else [])
        return notice


def _transitions(checks: list[RuleCheck], state: dict[str, str]) -> list[RuleChange]:
    """Rules whose verdict differs from the stored state (updating ``state`` in place)."""
    changes: list[RuleChange] = []
    for check in checks:
        was_firing = state.get(check.rule) == FIRING
        if check.firing != was_firing:
            changes.append(RuleChange(check.rule, check.firing, check.summary))
        state[check.rule] = FIRING if check.firing else OK
    return changes


__all__ = ["EXAMPLE_MESSAGE_CHARS", "RESUMING", "TOP_ERROR_CODES", "WarningTracker"]
