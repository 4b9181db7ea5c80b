"""Notifiers (email over SMTP, Slack incoming webhook, generic JSON webhook) and the dispatcher.

The dispatcher renders a :class:`~sfsync.alerts.message.Notice` once, redacts it, and hands it to each
named notifier. A notifier that fails is logged (by its name, never its URL) and does not stop the others
nor the caller: a broken mail server must not stop syncs.

- ``email``: ``smtplib``; ``smtp.tls`` ``none`` | ``starttls`` | ``ssl`` (implicit TLS) with certificate
  verification against the system CAs (``SSL_CERT_FILE`` adds one); ``username``/``password`` log in.
- ``slack``: POST ``{"text", "blocks"}`` to the incoming-webhook URL (a secret: never logged).
- ``webhook``: POST the notice as JSON (see ``Notice.payload``) with the configured headers.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from sfsync.alerts.message import Notice, Redactor
from sfsync.config import EmailNotification, Project, SlackNotification, WebhookNotification
from sfsync.errors import NotifierError

log = logging.getLogger(__name__)

SLACK_TIMEOUT_S = 10.0
"""Seconds a Slack webhook call may take before it counts as failed."""

USER_AGENT = "sfsync-notifier/1"


@dataclass(frozen=True)
class Rendered:
    """A notice rendered and redacted for every channel."""

    subject: str
    text: str
    slack: dict[str, Any]
    payload: dict[str, Any]

    @classmethod
    def of(cls, notice: Notice, redactor: Redactor) -> Rendered:
        return cls(
            subject=redactor.text(notice.subject()),
            text=redactor.text(notice.text()),
            slack=redactor.data(notice.slack()),
            payload=redactor.data(notice.payload()),
        )


@dataclass(frozen=True)
class DeliverySettings:
    """How hard the dispatcher tries to deliver one notice to one notifier."""

    #: Attempts per notifier for a retryable failure (1 = no retry).
    attempts: int = 2
    #: Seconds to wait before trying again.
    retry_delay_s: float = 2.0


class Notifier(Protocol):
    name: str

    def send(self, message: Rendered) -> None: ...


class EmailNotifier:
    def __init__(self, name: str, config: EmailNotification, *, ssl_context: ssl.SSLContext | None = None):
        self.name = name
        self.config = config
        self._ssl_context = ssl_context

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def send(self, message: Rendered) -> None:
        cfg, smtp_cfg = self.config, self.config.smtp
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = cfg.from_address
        mail["To"] = ", ".join(cfg.to)
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = make_msgid(domain="sfsync")
        mail.set_content(message.text)
        where = f"{smtp_cfg.host}:{smtp_cfg.port}"
        try:
            smtp: smtplib.SMTP
            if smtp_cfg.tls == "ssl":
                smtp = smtplib.SMTP_SSL(
                    smtp_cfg.host, smtp_cfg.port, timeout=smtp_cfg.timeout_seconds, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(smtp_cfg.host, smtp_cfg.port, timeout=smtp_cfg.timeout_seconds)
            with smtp:
                if smtp_cfg.tls == "starttls":
                    smtp.starttls(context=self._context())
                if smtp_cfg.username:
                    password = smtp_cfg.password.get_secret_value() if smtp_cfg.password else ""
                    smtp.login(smtp_cfg.username, password)
                refused = smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifierError(
                f"SMTP server {where} refused the login of {smtp_cfg.username!r} ({exc.smtp_code}); "
                "check notifications.*.smtp.username and the password variable"
            ) from None
        except ssl.SSLError as exc:
            raise NotifierError(
                f"TLS with SMTP server {where} failed ({exc.reason or type(exc).__name__}); check smtp.tls "
                "(starttls on 587, ssl on 465) and that the server's certificate is trusted (SSL_CERT_FILE)"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            code = getattr(exc, "smtp_code", None)
            raise NotifierError(
                f"sending mail through {where} failed: {type(exc).__name__}: {exc}; "
                "check notifications.*.smtp host, port and tls",
                retryable=not isinstance(code, int) or 400 <= code < 500,
            ) from None
        if refused:
            raise NotifierError(f"SMTP server {where} refused recipient(s) {', '.join(sorted(refused))}")


def post_json(url: str, body: Any, *, headers: Mapping[str, str], timeout_s: float) -> httpx.Response:
    """POST ``body`` as JSON straight through an httpx transport.

    Not through ``httpx.Client``: the client logs every request's full URL at INFO, and a webhook URL
    carries its token (Slack's path, a ``?token=`` query). The transport logs neither.
    """
    request = httpx.Request(
        "POST",
        url,
        json=body,
        headers={"User-Agent": USER_AGENT, **headers},
        extensions={"timeout": httpx.Timeout(timeout_s).as_dict()},
    )
    with httpx.HTTPTransport() as transport:
        response = transport.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
    return response


def _check_response(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    status = response.status_code
    raise NotifierError(
        f"{what} answered HTTP {status}: {response.text[:200]}", retryable=status >= 500 or status == 429
    )


class SlackNotifier:
    def __init__(self, name: str, config: SlackNotification, *, timeout_s: float = SLACK_TIMEOUT_S):
        self.name = name
        self.config = config
        self.timeout_s = timeout_s

    def send(self, message: Rendered) -> None:
        url = self.config.webhook_url.get_secret_value()
        try:
            response = post_json(url, message.slack, headers={}, timeout_s=self.timeout_s)
        except httpx.HTTPError as exc:
            raise NotifierError(
                f"the Slack webhook could not be reached: {type(exc).__name__}; "
                "check the webhook URL variable and the network",
                retryable=True,
            ) from None
        _check_response(response, "the Slack webhook")


class WebhookNotifier:
    def __init__(self, name: str, config: WebhookNotification):
        self.name = name
        self.config = config

    @property
    def host(self) -> str:
        parts = urlsplit(self.config.url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")

    def send(self, message: Rendered) -> None:
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        try:
            response = post_json(
                self.config.url, message.payload, headers=headers, timeout_s=self.config.timeout_seconds
            )
        except httpx.HTTPError as exc:
            raise NotifierError(
                f"the webhook at {self.host} could not be reached: {type(exc).__name__}", retryable=True
            ) from None
        _check_response(response, f"the webhook at {self.host}")


def build_notifier(
    name: str, config: EmailNotification | SlackNotification | WebhookNotification
) -> Notifier:
    if isinstance(config, EmailNotification):
        return EmailNotifier(name, config)
    if isinstance(config, SlackNotification):
        return SlackNotifier(name, config)
    return WebhookNotifier(name, config)


@dataclass(frozen=True)
class Delivery:
    """What happened to one notice at one notifier."""

    notifier: str
    ok: bool
    error: str | None = None


class Dispatcher:
    """Sends notices to named notifiers; redacts everything; never raises for a failed delivery."""

    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        redactor: Redactor | None = None,
        settings: DeliverySettings | None = None,
    ) -> None:
        self.notifiers = dict(notifiers)
        self.redactor = redactor or Redactor()
        self.settings = settings or DeliverySettings()

    @classmethod
    def for_project(cls, project: Project, settings: DeliverySettings | None = None) -> Dispatcher:
        notifiers = {name: build_notifier(name, cfg) for name, cfg in project.notifications.items()}
        return cls(notifiers, Redactor.for_config(project), settings)

    def send(self, notice: Notice, targets: Sequence[str]) -> list[Delivery]:
        if not targets:
            log.info("sync %s: %s notice not sent: warnings.notify lists nobody", notice.sync, notice.kind)
            return []
        rendered = Rendered.of(notice, self.redactor)
        out: list[Delivery] = []
        for name in targets:
            notifier = self.notifiers.get(name)
            if notifier is None:
                log.error("sync %s: notifier %r is not defined under notifications:", notice.sync, name)
                out.append(Delivery(name, False, "not defined"))
                continue
            out.append(self._deliver(notice, name, notifier, rendered))
        return out

    def _deliver(self, notice: Notice, name: str, notifier: Notifier, rendered: Rendered) -> Delivery:
        attempt = 1
        while True:
            try:
                notifier.send(rendered)
            except NotifierError as exc:
                error = self.redactor.text(str(exc))
                if exc.retryable and attempt < self.settings.attempts:
                    log.warning(
                        "sync %s: notifier %s failed (%s); trying again in %g s",
                        notice.sync,
                        name,
                        error,
                        self.settings.retry_delay_s,
                    )
                    attempt += 1
                    time.sleep(self.settings.retry_delay_s)
                    continue
                log.error("sync %s: notifier %s failed: %s", notice.sync, name, error)
                return Delivery(name, False, error)
            except Exception as exc:  # a notifier bug must not stop the scheduler
                error = self.redactor.text(f"{type(exc).__name__}: {exc}")
                log.error("sync %s: notifier %s failed unexpectedly: %s", notice.sync, name, error)
                return Delivery(name, False, error)
            log.info("sync %s: %s sent to %s", notice.sync, notice.kind, name)
            return Delivery(name, True)


__all__ = [
    "SLACK_TIMEOUT_S",
    "Delivery",
    "DeliverySettings",
    "Dispatcher",
    "EmailNotifier",
    "Notifier",
    "NotifierError",
    "Rendered",
    "SlackNotifier",
    "WebhookNotifier",
    "build_notifier",
]
