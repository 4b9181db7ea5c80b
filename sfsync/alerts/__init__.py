"""Warnings and notifications: rules evaluated after each run, notifiers (email, Slack, webhook).

Entry points:

- :class:`WarningTracker` (``after_run``, ``skipped_while_paused``, ``resumed``): edge-triggered warnings
  whose state lives in the state store; call ``after_run(sync, run_id)`` after any run (CLI, scheduler, UI).
- :class:`Dispatcher` (``Dispatcher.for_project(project)``): sends a :class:`Notice` to named notifiers,
  redacting secrets; :func:`check_run` the pure rule verdicts.
- :func:`judge_run`: how a finished run reads everywhere (status, warns or not, a one-line reason).
"""

from __future__ import annotations

from sfsync.alerts.message import ErrorCount, Notice, NoticeKind, Redactor, RuleChange, collect_secrets
from sfsync.alerts.notifiers import (
    Delivery,
    DeliverySettings,
    Dispatcher,
    EmailNotifier,
    Notifier,
    NotifierError,
    Rendered,
    SlackNotifier,
    WebhookNotifier,
    build_notifier,
)
from sfsync.alerts.rules import FIRING, OK, Rule, RuleCheck, check_run
from sfsync.alerts.tracker import WarningTracker
from sfsync.alerts.verdict import RunVerdict, judge_run, percent_text, rejection_text

__all__ = [
    "FIRING",
    "OK",
    "Delivery",
    "DeliverySettings",
    "Dispatcher",
    "EmailNotifier",
    "ErrorCount",
    "Notice",
    "NoticeKind",
    "Notifier",
    "NotifierError",
    "Redactor",
    "Rendered",
    "Rule",
    "RuleChange",
    "RuleCheck",
    "RunVerdict",
    "SlackNotifier",
    "WarningTracker",
    "WebhookNotifier",
    "build_notifier",
    "check_run",
    "collect_secrets",
    "judge_run",
    "percent_text",
    "rejection_text",
]
