"""``destinations:`` (Salesforce orgs) and ``notifications:`` (email, Slack, webhook).

Auth flows (``auth.flow``) and the fields each needs:

::

    password            client_id, client_secret, username, password [, security_token]
    jwt                 client_id, username, private_key or private_key_file [, audience]
    client_credentials  client_id, client_secret
    refresh_token       client_id, refresh_token [, client_secret]
    access_token        access_token (and the destination's instance_url)

Every secret (client_secret, password, security_token, private_key, refresh_token, access_token, Slack
webhook URLs, SMTP passwords, sensitive webhook headers) is a ``SecretStr`` and must come through ``${NAME}``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from sfsync.config.env import STRICT_SECRETS, InterpolatedStr, Secret, SecretWebhookUrl

_API_VERSION = re.compile(r"^\d{2}\.0$")
_SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|password|cookie|signature", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts a destination may reach over plain http without ``allow_insecure_http`` (the local emulator)."""


def _http_url(v: str) -> str:
    if not v.startswith(("http://", "https://")):
        raise ValueError(f"{v!r} is not an http(s) URL: write it like https://login.salesforce.com")
    return v.rstrip("/")


class PasswordAuth(_Strict):
    flow: Literal["password"]
    client_id: str
    client_secret: Secret
    username: str
    password: Secret
    security_token: Secret | None = None


class JwtAuth(_Strict):
    flow: Literal["jwt"]
    client_id: str
    username: str
    private_key: Secret | None = Field(default=None, description="PEM text of the RSA private key")
    private_key_file: str | None = Field(default=None, description="path to the PEM key file")
    audience: str | None = Field(default=None, description="JWT aud; defaults to the login URL")

    @model_validator(mode="after")
    def _one_key(self) -> JwtAuth:
        if (self.private_key is None) == (self.private_key_file is None):
            raise ValueError("the jwt flow needs exactly one of private_key or private_key_file")
        return self


class ClientCredentialsAuth(_Strict):
    flow: Literal["client_credentials"]
    client_id: str
    client_secret: Secret


class RefreshTokenAuth(_Strict):
    flow: Literal["refresh_token"]
    client_id: str
    refresh_token: Secret
    client_secret: Secret | None = None


class AccessTokenAuth(_Strict):
    flow: Literal["access_token"]
    access_token: Secret


AuthConfig = Annotated[
    PasswordAuth | JwtAuth | ClientCredentialsAuth | RefreshTokenAuth | AccessTokenAuth,
    Field(discriminator="flow"),
]


class SalesforceSettings(_Strict):
    """Tuning for one org. Every knob has a default that suits a Developer Edition org."""

    max_concurrency: int = Field(
        default=4, ge=1, le=25, description="parallel requests / Bulk jobs in flight against this org"
    )
    bulk_threshold: int = Field(
        default=2000,
        ge=1,
        description="with api: auto, changes of at least this many rows go through Bulk API 2.0",
    )
    rest_batch_size: int = Field(
        default=200, ge=1, le=200, description="records per sObject Collections call"
    )
    bulk_max_bytes: int = Field(
        default=100_000_000,
        ge=1_000_000,
        le=100_000_000,
        description="largest raw CSV uploaded to one Bulk job",
    )
    timeout_seconds: float = Field(default=120.0, gt=0, description="HTTP timeout for one request")
    max_retries: int = Field(default=5, ge=0, description="retries of a transient failure before giving up")
    api_usage_limit_percent: float = Field(
        default=90.0, gt=0, le=100, description="stop before the org's daily API usage passes this share"
    )
    bulk_poll_seconds: float = Field(default=2.0, gt=0, description="seconds between Bulk job status polls")
    bulk_lock_retries: int = Field(
        default=2, ge=0, le=10, description="extra Bulk rounds for rows that failed with UNABLE_TO_LOCK_ROW"
    )


class SalesforceDestination(_Strict):
    type: Literal["salesforce"]
    login_url: str | None = Field(
        default=None, description="https://login.salesforce.com, test.salesforce.com, ..."
    )
    instance_url: str | None = Field(
        default=None, description="the org's own URL (needed by flow: access_token)"
    )
    auth: AuthConfig
    api_version: str = Field(default="62.0", description='REST API version, like "62.0"')
    ca_bundle: str | None = Field(
        default=None,
        description="PEM file of extra CAs to trust besides the system's (relative to the project)",
    )
    allow_insecure_http: bool = Field(
        default=False,
        description="allow a plain http:// login_url or instance_url on a host other than this machine",
    )
    settings: SalesforceSettings = Field(default_factory=SalesforceSettings)

    @field_validator("login_url", "instance_url")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v)

    @field_validator("api_version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        if isinstance(v, int | float):
            v = f"{float(v):.1f}"
        if isinstance(v, str) and not _API_VERSION.match(v.removeprefix("v")):
            raise ValueError(f'{v!r} is not an API version: write it like "62.0"')
        return v.removeprefix("v") if isinstance(v, str) else v

    @model_validator(mode="after")
    def _plain_http(self) -> SalesforceDestination:
        # credentials and session ids cross the network in clear text over http: only to this machine
        for url in (self.login_url, self.instance_url):
            if url is None or not url.startswith("http://") or self.allow_insecure_http:
                continue
            host = (urlsplit(url).hostname or "").lower()
            if host not in LOOPBACK_HOSTS:
                raise ValueError(
                    f"{url} is plain http to {host}: passwords and session ids would cross the network "
                    "unencrypted. Use https://, or set allow_insecure_http: true on the destination if "
                    "you really mean it (plain http is allowed to 127.0.0.1, ::1 and localhost)"
                )
        return self

    @model_validator(mode="after")
    def _where(self) -> SalesforceDestination:
        if self.auth.flow == "access_token":
            if self.instance_url is None:
                raise ValueError(
                    "auth flow access_token needs instance_url (the org's URL the token belongs to)"
                )
        elif self.login_url is None:
            raise ValueError(
                f"auth flow {self.auth.flow} needs login_url (https://login.salesforce.com, "
                "https://test.salesforce.com for sandboxes, or the emulator's http://127.0.0.1:8642)"
            )
        return self


DestinationConfig = SalesforceDestination


class SmtpSettings(_Strict):
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    tls: Literal["none", "starttls", "ssl"] = Field(
        default="none", description="none, starttls (true) or ssl (implicit TLS, usually port 465)"
    )
    username: str | None = None
    password: Secret | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_bool(cls, v: Any) -> Any:
        if v is True:
            return "starttls"
        if v is False:
            return "none"
        return v


class EmailNotification(_Strict):
    type: Literal["email"]
    to: list[str] = Field(min_length=1)
    from_address: str = "sfsync@localhost"
    smtp: SmtpSettings


class SlackNotification(_Strict):
    type: Literal["slack"]
    webhook_url: SecretWebhookUrl


class WebhookNotification(_Strict):
    type: Literal["webhook"]
    url: str
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)

    @field_validator("headers", mode="before")
    @classmethod
    def _sensitive_headers(cls, v: Any, info: ValidationInfo) -> Any:
        strict = bool(info.context and info.context.get(STRICT_SECRETS))
        if strict and isinstance(v, dict):
            literal = [
                k
                for k, val in v.items()
                if _SENSITIVE_HEADER.search(str(k))
                and isinstance(val, str)
                and not isinstance(val, InterpolatedStr)
            ]
            if literal:
                raise ValueError(
                    f"header {', '.join(map(str, literal))} looks like a credential and is written "
                    "literally: "
                    'write "${NAME}" and set NAME in the environment or the .env file'
                )
        return v


NotificationConfig = Annotated[
    EmailNotification | SlackNotification | WebhookNotification, Field(discriminator="type")
]

__all__ = [
    "AccessTokenAuth",
    "AuthConfig",
    "ClientCredentialsAuth",
    "DestinationConfig",
    "EmailNotification",
    "JwtAuth",
    "NotificationConfig",
    "PasswordAuth",
    "RefreshTokenAuth",
    "SalesforceDestination",
    "SalesforceSettings",
    "SlackNotification",
    "SmtpSettings",
    "WebhookNotification",
]
