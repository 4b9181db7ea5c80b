"""Pausing and resuming syncs, by hand or by themselves, and how a sync's status reads.

A paused sync is skipped by the scheduler. Who paused it is a field of its status
(``SyncStatus.pause_automatic``):

- automatic: the sync paused itself because a run failed in a way that will not fix itself by retrying
  (its source or model cannot be read, the mapping no longer matches describe, Salesforce refuses the
  login or cannot be reached). The scheduler re-checks it and resumes it when the check passes.
- by a person (``sfsync pause``, the web UI, ``Project.pause``): only a person resumes it.

The cause is plain text for people: ``paused by alice: quarter close`` or
``the source or model cannot be read: …``.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from datetime import datetime

from sfsync.alerts import FIRING, Rule, WarningTracker
from sfsync.alerts.rules import first_line
from sfsync.errors import (
    AuthError,
    ConfigError,
    SalesforceConfigError,
    SfsyncError,
    SourceError,
    UnreachableError,
)
from sfsync.state import StateStore, SyncStatus

log = logging.getLogger(__name__)

CAUSE_CHARS = 500
"""Longest error text kept in a pause cause."""

CAUSE_PROBLEMS = 3
"""Problems of a ConfigError (e.g. mapping problems) quoted in a pause cause."""


def pause_cause_for(error: BaseException) -> str | None:
    """The cause of the automatic pause a run that failed with ``error`` calls for, or None when retrying
    may fix it.

    Pauses on: SourceError (warehouse unreachable, SQL error, table gone), ConfigError (mapping no longer
    valid against describe or the model's columns), AuthError, SalesforceConfigError, and a Salesforce
    that stays unreachable after every retry (UnreachableError). Not on: quota (LimitError), server
    errors, Bulk job failures, a busy or paused sync.
    """
    if isinstance(error, SourceError):
        what = "the source or model cannot be read"
    elif isinstance(error, ConfigError):
        what = "the sync's configuration or mapping is no longer valid"
    elif isinstance(error, AuthError):
        what = "Salesforce refuses the login"
    elif isinstance(error, SalesforceConfigError):
        what = "Salesforce refuses the sync's object or fields"
    elif isinstance(error, UnreachableError):
        what = "Salesforce cannot be reached"
    else:
        return None
    text = first_line(str(error), CAUSE_CHARS)
    problems = error.other_problems if isinstance(error, SfsyncError) else []
    if problems:
        shown = "; ".join(first_line(p, CAUSE_CHARS) for p in problems[:CAUSE_PROBLEMS])
        more = f" (+{len(problems) - CAUSE_PROBLEMS} more)" if len(problems) > CAUSE_PROBLEMS else ""
        text = f"{text}: {shown}{more}"
    return f"{what}: {text}"


def manual_cause(reason: str | None = None, *, user: str | None = None) -> str:
    """The cause text of a pause asked for by a person (the OS user unless ``user`` names another)."""
    if user is None:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown user"
    text = f"paused by {user}"
    return f"{text}: {reason}" if reason else text


def pause_sync(store: StateStore, sync: str, cause: str, *, automatic: bool = False) -> SyncStatus:
    """Pause ``sync`` with ``cause``; ``automatic`` pauses lift themselves once the sync's check passes.
    Pausing an already paused sync replaces its cause: a pause by a person over an automatic one stops
    the automatic resume."""
    status = store.set_paused(sync, True, cause, automatic=automatic)
    log.warning("sync %s paused%s: %s", sync, " automatically" if automatic else "", cause)
    return status


def resume_sync(
    store: StateStore,
    sync: str,
    *,
    tracker: WarningTracker | None = None,
    automatic: bool = False,
    confirm_by_run: bool = False,
) -> SyncStatus:
    """Resume ``sync``; with a tracker, a recovery notice goes out if the pause had been notified
    (after an automatic resume with ``confirm_by_run``, only once its next run succeeds)."""
    before = store.sync_status(sync)
    status = store.set_paused(sync, False)
    if before.paused:
        how = "automatically" if automatic else "by hand"
        log.warning("sync %s resumed %s (was: %s)", sync, how, before.pause_cause)
    if tracker is not None and (before.paused or before.warning_state.get(Rule.PAUSED) == FIRING):
        tracker.resumed(sync, before.pause_cause, automatic=automatic, confirm_by_run=confirm_by_run)
    return status


@dataclass(frozen=True)
class StatusView:
    """A sync's pause and warning state, ready for ``sfsync runs``/``check``, the web UI and JSON."""

    sync: str
    paused: bool
    automatic: bool
    cause: str | None
    since: datetime | None
    firing: tuple[str, ...]

    def describe(self) -> str:
        if self.paused:
            since = f" since {self.since.isoformat(timespec='seconds')}" if self.since else ""
            kind = "paused automatically (resumes when its check passes)" if self.automatic else "paused"
            text = f"{kind}{since}: {self.cause or 'no cause given'}"
        else:
            text = "active"
        if self.firing:
            text += f"; warnings firing: {', '.join(self.firing)}"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "sync": self.sync,
            "paused": self.paused,
            "automatic": self.automatic,
            "cause": self.cause,
            "since": self.since.isoformat() if self.since else None,
            "warnings_firing": list(self.firing),
            "text": self.describe(),
        }


def status_view(store: StateStore, sync: str) -> StatusView:
    status = store.sync_status(sync)
    return StatusView(
        sync=sync,
        paused=status.paused,
        automatic=status.pause_automatic,
        cause=status.pause_cause,
        since=status.paused_at,
        firing=tuple(sorted(r for r, s in status.warning_state.items() if s == FIRING)),
    )


__all__ = [
    "CAUSE_CHARS",
    "StatusView",
    "manual_cause",
    "pause_cause_for",
    "pause_sync",
    "resume_sync",
    "status_view",
]
