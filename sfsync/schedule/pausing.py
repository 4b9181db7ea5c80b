"""Pausing and resuming syncs, by hand or by themselves, and how a sync's status reads.

A paused sync is skipped by the scheduler. The pause cause (stored with ``StateStore.set_paused``) tells
the two kinds apart:

- ``auto: <what broke>``: the sync paused itself because a run failed in a way that will not fix itself
  by retrying (its source or model cannot be read, the mapping no longer matches describe, Salesforce
  refuses the login or cannot be reached). The scheduler re-checks it (``SyncSession.validate``) and
  resumes it when the check passes.
- anything else (``manual: paused by alice``, a reason given to ``sfsync pause``): only a person resumes it.
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
    SourceError,
    TransientError,
)
from sfsync.state import StateStore, SyncStatus

log = logging.getLogger(__name__)

AUTO_PAUSE_PREFIX = "auto: "
"""Start of the cause of a pause the sync put on itself (and will lift itself)."""

MANUAL_PAUSE_PREFIX = "manual: "
"""Start of the cause of a pause a person asked for."""

CAUSE_CHARS = 500
"""Longest error text kept in a pause cause."""

CAUSE_PROBLEMS = 3
"""Problems of a ConfigError (e.g. mapping problems) quoted in a pause cause."""

CONNECTION_ERROR_CODE = "CONNECTION_ERROR"
"""``TransientError.code`` of a call that got no answer at all (connection refused, DNS, timeout)."""


def pause_cause_for(error: BaseException) -> str | None:
    """The automatic pause cause for a run that failed with ``error``, or None when retrying may fix it.

    Pauses on: SourceError (warehouse unreachable, SQL error, table gone), ConfigError (mapping no longer
    valid against describe or the model's columns), AuthError, SalesforceConfigError, and a Salesforce
    that stays unreachable after every retry. Not on: quota (LimitError), server errors, Bulk job failures.
    """
    text = first_line(str(error), CAUSE_CHARS)
    problems = [p for p in getattr(error, "problems", None) or [] if p != getattr(error, "message", None)]
    if problems:
        shown = "; ".join(first_line(p, CAUSE_CHARS) for p in problems[:CAUSE_PROBLEMS])
        more = f" (+{len(problems) - CAUSE_PROBLEMS} more)" if len(problems) > CAUSE_PROBLEMS else ""
        text = f"{text}: {shown}{more}"
    if isinstance(error, SourceError):
        what = "the source or model cannot be read"
    elif isinstance(error, ConfigError):
        what = "the sync's configuration or mapping is no longer valid"
    elif isinstance(error, AuthError):
        what = "Salesforce refuses the login"
    elif isinstance(error, SalesforceConfigError):
        what = "Salesforce refuses the sync's object or fields"
    elif isinstance(error, TransientError) and error.code == CONNECTION_ERROR_CODE:
        what = "Salesforce cannot be reached"
    else:
        return None
    return f"{AUTO_PAUSE_PREFIX}{what}: {text}"


def is_auto_pause(status: SyncStatus) -> bool:
    """True when the sync is paused by itself (and so resumes by itself)."""
    return status.paused and (status.pause_cause or "").startswith(AUTO_PAUSE_PREFIX)


def manual_cause(reason: str | None = None, *, user: str | None = None) -> str:
    """The cause text of a pause asked for by a person."""
    if user is None:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown user"
    text = f"paused by {user}"
    return f"{MANUAL_PAUSE_PREFIX}{text}: {reason}" if reason else f"{MANUAL_PAUSE_PREFIX}{text}"


def pause_sync(store: StateStore, sync: str, cause: str) -> SyncStatus:
    """Pause ``sync`` with ``cause`` (``manual_cause(...)`` for a person; ``auto: ...`` pauses lift
    themselves). Pausing an already paused sync replaces its cause: a manual pause over an automatic one
    stops the automatic resume."""
    status = store.set_paused(sync, True, cause)
    log.warning("sync %s paused: %s", sync, cause)
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
        automatic=is_auto_pause(status),
        cause=status.pause_cause,
        since=status.paused_at,
        firing=tuple(sorted(r for r, s in status.warning_state.items() if s == FIRING)),
    )


def describe_status(store: StateStore, sync: str) -> str:
    """One line for ``sfsync runs``/``check``: ``active``, or ``paused ... since ...: <cause>``, plus the
    warnings currently firing."""
    return status_view(store, sync).describe()


__all__ = [
    "AUTO_PAUSE_PREFIX",
    "CAUSE_CHARS",
    "MANUAL_PAUSE_PREFIX",
    "StatusView",
    "describe_status",
    "is_auto_pause",
    "manual_cause",
    "pause_cause_for",
    "pause_sync",
    "resume_sync",
    "status_view",
]
