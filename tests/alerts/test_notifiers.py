"""Notifiers against real servers on loopback: SMTP (aiosmtpd: plain, STARTTLS, implicit TLS, auth) and
HTTP (Slack incoming webhook, generic JSON webhook). No secret may appear in a message or a log line."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_string
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from sfsync.alerts import DeliverySettings, Dispatcher, ErrorCount, Notice, Redactor, Rule, RuleChange
from sfsync.emulator.tls import TlsFiles, ensure_tls_files
from sfsync.state import RunCounts, RunRecord, RunStatus, Trigger
from tests.schedule.helpers import SECRETS, ProjectFactory, Receiver, assert_no_secret, receiving

SMTP_USER = "alerts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    messages: list[tuple[str, list[str], str]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content.decode() if isinstance(envelope.content, bytes) else str(envelope.content)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == SMTP_USER.encode()
            and auth_data.password == SECRETS["SMTP_PASSWORD"].encode()
        )
        if ok:
            self.logins.append(SMTP_USER)
        return AuthResult(success=ok, handled=False)

    def mail(self, index: int = 0) -> Message:
        return message_from_string(self.messages[index][2])


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls_files(tmp_path_factory.mktemp("smtp-tls"))


def _server_context(files: TlsFiles) -> Any:
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.cert_path, files.key_path)
    return ctx


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest, tls_files: TlsFiles) -> Iterator[tuple[Inbox, int]]:
    """``request.param``: "plain" (AUTH allowed without TLS), "starttls" or "ssl"."""
    mode = getattr(request, "param", "plain")
    inbox = Inbox()
    port = _free_port()
    kwargs: dict[str, Any] = {"authenticator": inbox.authenticate}
    if mode == "plain":
        kwargs["auth_require_tls"] = False
    elif mode == "starttls":
        kwargs.update(tls_context=_server_context(tls_files), require_starttls=True)
    else:
        kwargs["ssl_context"] = _server_context(tls_files)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def notice(**overrides: Any) -> Notice:
    run = RunRecord(
        id=42,
        sync="vip_contacts",
        trigger=Trigger.SCHEDULE,
        status=RunStatus.SUCCEEDED,
        started_at=datetime(2026, 1, 5, 10, 15, tzinfo=UTC),
        finished_at=datetime(2026, 1, 5, 10, 16, tzinfo=UTC),
        counts=RunCounts(rows_read=1000, new=20, changed=4, unchanged=976, created=15, updated=4, rejected=5),
        duration_s=61.5,
        error=None,
        api="rest",
        pid=1,
        host="h",
    )
    values: dict[str, Any] = {
        "sync": "vip_contacts",
        "at": datetime(2026, 1, 5, 10, 16, tzinfo=UTC),
        "changes": (
            RuleChange(
                Rule.REJECTED_ROWS, True, "5 of 24 rows sent were rejected (20.8%, above the 10% limit)"
            ),
        ),
        "object": "Contact",
        "run": run,
        "top_errors": (ErrorCount("INVALID_EMAIL_ADDRESS", 4), ErrorCount("STRING_TOO_LONG", 1)),
        "example": "customer_id=17: INVALID_EMAIL_ADDRESS: Email: invalid email address: foo (fields: Email)",
    }
    values.update(overrides)
    return Notice(**values)


FAST_RETRY = DeliverySettings(attempts=2, retry_delay_s=0.01)


def dispatcher(tmp_path: Path, notifications: str) -> Dispatcher:
    factory = ProjectFactory(tmp_path, notifications=notifications)
    return Dispatcher.for_project(factory.load(), FAST_RETRY)


def _email(port: int, tls: str, *, auth: bool = True, password_var: str = "SMTP_PASSWORD") -> str:
    login = f', username: {SMTP_USER}, password: "${{{password_var}}}"' if auth else ""
    return (
        "  mail: {type: email, to: [ops@example.com, oncall@example.com], from_address: sfsync@example.com,"
        f" smtp: {{host: 127.0.0.1, port: {port}, tls: {tls}{login}, timeout_seconds: 10}}}}"
    )


def _assert_mail(inbox: Inbox) -> None:
    [(sender, recipients, raw)] = inbox.messages
    assert sender == "sfsync@example.com"
    assert recipients == ["ops@example.com", "oncall@example.com"]
    mail = inbox.mail()
    assert mail["Subject"] == "[sfsync] warning: sync vip_contacts: rejected_rows_percent"
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    assert "Sync: vip_contacts (Salesforce Contact)" in body
    assert "Run: 42 (schedule, succeeded)" in body
    assert "5 of 24 rows sent were rejected (20.8%, above the 10% limit)" in body
    assert (
        "1000 rows read (20 new, 4 changed, 976 unchanged); 24 sent: 15 created, 4 updated, 5 rejected"
        in body
    )
    assert "Top error codes: INVALID_EMAIL_ADDRESS x4, STRING_TOO_LONG x1" in body
    assert "Example row: customer_id=17: INVALID_EMAIL_ADDRESS: Email: invalid email address: foo" in body
    assert_no_secret(raw)


@pytest.mark.parametrize("smtp_server", ["plain"], indirect=True)
def test_email_plain_with_login(tmp_path: Path, smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    [delivery] = dispatcher(tmp_path, _email(port, "none")).send(notice(), ["mail"])
    assert delivery.ok, delivery.error
    assert inbox.logins == [SMTP_USER]
    _assert_mail(inbox)


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_email_starttls_with_login(
    tmp_path: Path, smtp_server: tuple[Inbox, int], tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = smtp_server
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_path))
    [delivery] = dispatcher(tmp_path, _email(port, "starttls")).send(notice(), ["mail"])
    assert delivery.ok, delivery.error
    assert inbox.logins == [SMTP_USER]
    _assert_mail(inbox)


@pytest.mark.parametrize("smtp_server", ["ssl"], indirect=True)
def test_email_implicit_tls(
    tmp_path: Path, smtp_server: tuple[Inbox, int], tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = smtp_server
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_path))
    [delivery] = dispatcher(tmp_path, _email(port, "ssl", auth=False)).send(notice(), ["mail"])
    assert delivery.ok, delivery.error
    _assert_mail(inbox)


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_email_failures_say_why_without_secrets(
    tmp_path: Path,
    smtp_server: tuple[Inbox, int],
    tls_files: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox, port = smtp_server
    caplog.set_level(logging.DEBUG)
    # the server's certificate is not trusted
    [untrusted] = dispatcher(tmp_path, _email(port, "starttls")).send(notice(), ["mail"])
    assert not untrusted.ok and "TLS with SMTP server 127.0.0.1" in (untrusted.error or "")
    # a wrong password (its value must not leak either)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_path))
    wrong = dispatcher(tmp_path, _email(port, "starttls", password_var="HOOK_TOKEN"))
    [refused] = wrong.send(notice(), ["mail"])
    assert not refused.ok and f"refused the login of '{SMTP_USER}'" in (refused.error or "")
    assert inbox.messages == []
    for text in (untrusted.error or "", refused.error or "", caplog.text):
        assert_no_secret(text)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def _http(receiver: Receiver) -> str:
    return (
        f'  hook: {{type: webhook, url: "{receiver.url}/hook?token=${{HOOK_TOKEN}}",'
        ' headers: {Authorization: "Bearer ${HOOK_AUTH}", X-Team: data}}\n'
        f'  slack: {{type: slack, webhook_url: "{receiver.url}/services/${{SLACK_PATH}}"}}'
    )


def test_slack_and_webhook_bodies(tmp_path: Path, receiver: Receiver) -> None:
    deliveries = dispatcher(tmp_path, _http(receiver)).send(notice(), ["hook", "slack"])
    assert [d.ok for d in deliveries] == [True, True]
    [hook] = receiver.posts("/hook")
    [slack] = receiver.posts("/services/")
    assert hook.path == f"/hook?token={SECRETS['HOOK_TOKEN']}"  # delivered where configured
    assert (
        hook.headers["Authorization"] == f"Bearer {SECRETS['HOOK_AUTH']}" and hook.headers["X-Team"] == "data"
    )
    assert slack.path == f"/services/{SECRETS['SLACK_PATH']}"
    body = hook.body
    assert body["kind"] == "warning" and body["sync"] == "vip_contacts" and body["object"] == "Contact"
    assert (
        body["run"]["id"] == 42
        and body["run"]["counts"]["rejected"] == 5
        and body["run"]["counts"]["sent"] == 24
    )
    assert body["entered"] == [
        {
            "rule": "rejected_rows_percent",
            "summary": "5 of 24 rows sent were rejected (20.8%, above the 10% limit)",
        }
    ]
    assert body["top_errors"][0] == {"code": "INVALID_EMAIL_ADDRESS", "count": 4}
    assert body["example"].startswith("customer_id=17: INVALID_EMAIL_ADDRESS")
    assert slack.body["text"] == ":warning: [sfsync] warning: sync vip_contacts: rejected_rows_percent"
    assert [b["type"] for b in slack.body["blocks"]] == ["section", "section"]
    assert "Top error codes: INVALID_EMAIL_ADDRESS x4" in slack.body["blocks"][1]["text"]["text"]
    for request in (hook, slack):
        assert_no_secret(json.dumps(request.body))


def test_secrets_inside_the_notice_are_redacted(tmp_path: Path, receiver: Receiver) -> None:
    leaky = notice(
        example=f"id=1: FAILED: callback {receiver.url}/services/{SECRETS['SLACK_PATH']} said no",
        pause_cause=f"Salesforce refuses the login: password {SECRETS['SF_PASSWORD']} rejected"
        " at https://user:hunter2@db.example.com/x?access_token=abc123",
    )
    dispatcher(tmp_path, _http(receiver)).send(leaky, ["hook", "slack"])
    for request in receiver.posts():
        text = json.dumps(request.body)
        assert_no_secret(text)
        assert "hunter2" not in text and "abc123" not in text
        assert "user:***@db.example.com" in text and "access_token=***" in text


def test_http_failures_are_logged_without_urls(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.status = 500
    deliveries = dispatcher(tmp_path, _http(receiver)).send(notice(), ["hook", "slack", "missing"])
    assert [d.ok for d in deliveries] == [False, False, False]
    assert "HTTP 500" in (deliveries[0].error or "") and "HTTP 500" in (deliveries[1].error or "")
    assert deliveries[2].error == "not defined"
    assert len(receiver.posts("/hook")) == 2 and len(receiver.posts("/services/")) == 2  # one retry each
    receiver.status = 404  # a client error is not retried
    dispatcher(tmp_path, _http(receiver)).send(notice(), ["hook"])
    assert len(receiver.posts("/hook")) == 3
    closed = _free_port()  # nothing listens there
    refused = dispatcher(
        tmp_path,
        f'  hook: {{type: webhook, url: "http://127.0.0.1:{closed}/h?token=${{HOOK_TOKEN}}"}}\n'
        f'  slack: {{type: slack, webhook_url: "http://127.0.0.1:{closed}/services/${{SLACK_PATH}}"}}',
    ).send(notice(), ["hook", "slack"])
    assert [d.ok for d in refused] == [False, False]
    assert "could not be reached: ConnectError" in (refused[0].error or "")
    for text in [caplog.text, *(d.error or "" for d in deliveries + refused)]:
        assert_no_secret(text)


def test_redactor() -> None:
    r = Redactor(["s3cr3t-value", "ab"])  # too short values are not searched
    assert r.text("token s3cr3t-value here, ab") == "token *** here, ab"
    assert r.text("postgresql://app:pw@host/db") == "postgresql://app:***@host/db"
    assert r.text("https://x.test/cb?a=1&api_key=zzz&sig=qq") == "https://x.test/cb?a=1&api_key=***&sig=***"
    assert r.text("https://hooks.slack.com/services/T1/B2/xyz") == "https://hooks.slack.com/services/***"
    assert r.text("Authorization: Bearer 00Dxx!abcdefghijkl") == "Authorization: Bearer ***"
    assert r.data({"a": ["s3cr3t-value", 3], "b": None}) == {"a": ["***", 3], "b": None}
