"""What a warning says: the :class:`Notice`, its renderings (email, Slack, JSON) and secret redaction.

A notice names the sync, the run, its numbers, the rules that entered (or left) the warning state, the
top rejection codes with one example row, and the pause cause when there is one. Every text and every
string of the JSON payload goes through a :class:`Redactor` before it leaves the process: known secret
values of the project are replaced by ``***``, as are passwords in URLs, token-like query parameters and
Slack webhook paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, SecretStr

from sfsync.alerts.rules import Rule, first_line
from sfsync.state import RunRecord

MASK = "***"

MIN_SECRET_LENGTH = 4
"""Secret values shorter than this are not searched for in texts (they would mask ordinary words)."""

SLACK_SECTION_LIMIT = 2900
"""Characters of the body put in one Slack section block (Slack refuses more than 3000)."""

_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<pw>[^/\s@]+)@")
_TOKEN_PARAM = re.compile(
    r"(?P<key>[?&;](?:[\w.-]*(?:token|key|secret|password|passwd|pwd|sig|signature|auth|code)[\w.-]*))="
    r"(?P<value>[^&\s#]+)",
    re.IGNORECASE,
)
_SLACK_HOOK = re.compile(r"(hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/)[^\s\"'<>]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/!=-]{8,}")


class Redactor:
    """Masks secrets in text: the given secret values, URL passwords, token parameters, Slack hooks."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        self._secrets = sorted(values, key=len, reverse=True)

    @classmethod
    def for_config(cls, *configs: Any) -> Redactor:
        """A redactor that knows every ``SecretStr`` value found anywhere inside ``configs``."""
        return cls(collect_secrets(configs))

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, MASK)
        value = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
        value = _TOKEN_PARAM.sub(lambda m: f"{m['key']}={MASK}", value)
        value = _SLACK_HOOK.sub(lambda m: f"{m.group(1)}{MASK}", value)
        return _BEARER.sub(lambda m: f"{m.group(1)}{MASK}", value)

    def data(self, value: Any) -> Any:
        """``value`` (JSON-like: dicts, lists, strings, numbers) with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def collect_secrets(value: Any) -> list[str]:
    """Every ``SecretStr`` value inside pydantic models, dicts, lists and tuples (depth first)."""
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, SecretStr):
            found.append(v.get_secret_value())
        elif isinstance(v, BaseModel):
            for name in type(v).model_fields:
                walk(getattr(v, name))
        elif isinstance(v, dict):
            for item in v.values():
                walk(item)
        elif isinstance(v, list | tuple | set | frozenset):
            for item in v:
                walk(item)

    walk(value)
    return found


class NoticeKind(StrEnum):
    WARNING = "warning"
    RECOVERED = "recovered"


@dataclass(frozen=True)
class RuleChange:
    """A rule that entered (``firing=True``) or left the warning state, with its numbers."""

    rule: Rule
    firing: bool
    summary: str


@dataclass(frozen=True)
class ErrorCount:
    code: str
    count: int


@dataclass(frozen=True)
class Notice:
    """One message about one sync. ``kind`` is warning when any rule entered the warning state."""

    sync: str
    at: datetime
    changes: tuple[RuleChange, ...]
    object: str | None = None
    run: RunRecord | None = None
    top_errors: tuple[ErrorCount, ...] = ()
    example: str | None = None
    pause_cause: str | None = None
    still_firing: tuple[Rule, ...] = field(default=())

    @property
    def kind(self) -> NoticeKind:
        return NoticeKind.WARNING if any(c.firing for c in self.changes) else NoticeKind.RECOVERED

    @property
    def entered(self) -> list[RuleChange]:
        return [c for c in self.changes if c.firing]

    @property
    def recovered(self) -> list[RuleChange]:
        return [c for c in self.changes if not c.firing]

    def subject(self) -> str:
        if self.kind is NoticeKind.WARNING:
            head = "; ".join(c.rule.value for c in self.entered)
            return f"[sfsync] warning: sync {self.sync}: {head}"
        return f"[sfsync] recovered: sync {self.sync}: " + "; ".join(c.rule.value for c in self.recovered)

    def lines(self) -> list[str]:
        """The body, one line per fact."""
        out: list[str] = []
        target = f" (Salesforce {self.object})" if self.object else ""
        out.append(f"Sync: {self.sync}{target}")
        if self.run is not None:
            r = self.run
            out.append(
                f"Run: {r.id} ({r.trigger.value}, {r.status.value}) started "
                f"{r.started_at.isoformat(timespec='seconds')}"
            )
        for c in self.entered:
            out.append(f"WARNING {c.rule.value}: {c.summary}")
        for c in self.recovered:
            out.append(f"RECOVERED {c.rule.value}: {c.summary}")
        if self.pause_cause:
            out.append(f"Paused: {self.pause_cause}")
        if self.still_firing:
            out.append("Still in warning: " + ", ".join(r.value for r in self.still_firing))
        if self.run is not None:
            n = self.run.counts
            duration = f"; {self.run.duration_s:.1f} s" if self.run.duration_s is not None else ""
            out.append(
                f"Numbers: {n.rows_read} rows read ({n.new} new, {n.changed} changed,"
                f" {n.unchanged} unchanged); {self.run.counts.sent} sent: {n.created} created,"
                f" {n.updated} updated,{f' {n.removed} removed (rows that left),' if n.removed else ''}"
                f" {n.rejected} rejected; {n.api_calls} API calls{duration}"
            )
            if self.run.error:
                out.append(f"Error: {first_line(self.run.error, 1000)}")
        if self.top_errors:
            out.append("Top error codes: " + ", ".join(f"{e.code} x{e.count}" for e in self.top_errors))
        if self.example:
            out.append(f"Example row: {self.example}")
        if self.run is not None:
            out.append(f"Details: sfsync show-run {self.run.id} --rejected")
        return out

    def text(self) -> str:
        return "\n".join([self.subject(), "", *self.lines()]) + "\n"

    def payload(self) -> dict[str, Any]:
        """The generic webhook's JSON body."""
        run: dict[str, Any] | None = None
        if self.run is not None:
            r = self.run
            run = {
                "id": r.id,
                "trigger": r.trigger.value,
                "status": r.status.value,
                "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "duration_s": r.duration_s,
                "error": first_line(r.error, 1000) if r.error else None,
                "counts": {
                    "rows_read": r.counts.rows_read,
                    "new": r.counts.new,
                    "changed": r.counts.changed,
                    "unchanged": r.counts.unchanged,
                    "sent": r.counts.sent,
                    "created": r.counts.created,
                    "updated": r.counts.updated,
                    "removed": r.counts.removed,
                    "rejected": r.counts.rejected,
                    "api_calls": r.counts.api_calls,
                },
            }
        return {
            "source": "sfsync",
            "kind": self.kind.value,
            "sync": self.sync,
            "object": self.object,
            "at": self.at.isoformat(),
            "title": self.subject(),
            "text": "\n".join(self.lines()),
            "entered": [{"rule": c.rule.value, "summary": c.summary} for c in self.entered],
            "recovered": [{"rule": c.rule.value, "summary": c.summary} for c in self.recovered],
            "still_firing": [r.value for r in self.still_firing],
            "paused": self.pause_cause,
            "run": run,
            "top_errors": [{"code": e.code, "count": e.count} for e in self.top_errors],
            "example": self.example,
        }

    def slack(self) -> dict[str, Any]:
        """A Slack incoming-webhook body: ``text`` (fallback and notification) plus blocks."""
        body = "\n".join(self.lines())
        if len(body) > SLACK_SECTION_LIMIT:
            body = body[: SLACK_SECTION_LIMIT - 1] + "…"
        icon = ":warning:" if self.kind is NoticeKind.WARNING else ":white_check_mark:"
        return {
            "text": f"{icon} {self.subject()}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{self.subject()}*"}},
                {"type": "section", "text": {"type": "plain_text", "text": body}},
            ],
        }


__all__ = [
    "MASK",
    "ErrorCount",
    "Notice",
    "NoticeKind",
    "Redactor",
    "RuleChange",
    "collect_secrets",
]
