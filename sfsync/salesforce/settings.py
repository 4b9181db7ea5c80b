"""Connection settings for one Salesforce org: where it is, how to log in, and every tuning constant.

The coordinator maps a project's ``destinations.<name>`` block onto :class:`ConnectionSettings`. Secrets
are ``SecretStr`` so ``repr()``/``str()`` of the settings never show them. ``problems()`` lists what is
missing for the chosen flow; ``SalesforceClient`` raises ``ConfigError`` with that list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

PRODUCTION_LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"
DEFAULT_API_VERSION = "62.0"

Flow = Literal["password", "jwt", "client_credentials", "refresh_token", "access_token"]

# What each flow needs, as (setting name, how to fix it) pairs; ``private_key`` is checked separately.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "password": ("client_id", "client_secret", "username", "password"),
    "jwt": ("client_id", "username"),
    "client_credentials": ("client_id", "client_secret"),
    "refresh_token": ("client_id", "refresh_token"),
    "access_token": ("instance_url", "access_token"),
}


class ConnectionSettings(BaseModel):
    """Everything the client needs to reach one org. Immutable; secrets never appear in its repr."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # ---- where -------------------------------------------------------------------------------------
    login_url: str = Field(
        default=PRODUCTION_LOGIN_URL,
        description="OAuth host: https://login.salesforce.com, https://test.salesforce.com (sandbox) or a "
        "My Domain URL such as https://acme.my.salesforce.com.",
    )
    instance_url: str | None = Field(
        default=None,
        description="The org's instance URL; required with the access_token flow, else learnt at login.",
    )
    api_version: str = Field(
        default=DEFAULT_API_VERSION, description='REST API version without the "v", e.g. "62.0".'
    )

    # ---- how to log in -----------------------------------------------------------------------------
    flow: Flow = "password"
    client_id: str | None = Field(default=None, description="Connected app consumer key.")
    client_secret: SecretStr | None = Field(default=None, description="Connected app consumer secret.")
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = Field(
        default=None, description="Appended to the password when the org requires it (password flow)."
    )
    private_key: SecretStr | None = Field(
        default=None, description="PEM private key signing JWT bearer assertions."
    )
    private_key_file: Path | None = Field(
        default=None, description="File holding that PEM key (instead of private_key)."
    )
    jwt_audience: str | None = Field(
        default=None,
        description="JWT `aud`; defaults to login_url (use https://test.salesforce.com for sandboxes).",
    )
    jwt_lifetime_seconds: int = Field(
        default=180, gt=0, le=3600, description="JWT `exp` = now + this many seconds."
    )
    refresh_token: SecretStr | None = None
    access_token: SecretStr | None = None

    # ---- transport ---------------------------------------------------------------------------------
    ca_bundle: Path | None = Field(
        default=None,
        description="PEM file of CA certificates to trust (e.g. the local emulator's CA); None = system.",
    )
    connect_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time to open a TCP/TLS connection."
    )
    read_timeout_seconds: float = Field(default=120.0, gt=0, description="Time to wait for response bytes.")
    write_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Time to send request bytes (Bulk uploads)."
    )
    pool_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Time to wait for a free pooled connection."
    )
    max_connections: int = Field(
        default=20, gt=0, description="Upper bound of open HTTP connections (keep-alive pool)."
    )

    # ---- retries -----------------------------------------------------------------------------------
    max_retries: int = Field(
        default=5, ge=0, description="Retries of one call after a transient failure (429, 5xx, lock, reset)."
    )
    backoff_base_seconds: float = Field(default=0.5, ge=0, description="First retry waits about this long.")
    backoff_max_seconds: float = Field(default=30.0, ge=0, description="No single wait is longer than this.")
    backoff_multiplier: float = Field(
        default=2.0, ge=1, description="Each further retry waits this many times longer."
    )
    backoff_jitter: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Share of each wait drawn at random (0 = fixed schedule, 1 = full jitter).",
    )

    # ---- parallelism and limits -------------------------------------------------------------------
    max_concurrency: int = Field(default=4, gt=0, description="Calls / Bulk jobs this client runs at once.")
    stop_at_api_usage_percent: float | None = Field(
        default=95.0,
        gt=0,
        le=100,
        description="Refuse new work once the org's daily API usage reaches this share (None = never).",
    )
    quota_recheck_seconds: float = Field(
        900.0,
        gt=0,
        description="After REQUEST_LIMIT_EXCEEDED, make no call for this long, then try again (quotas roll).",
    )
    collection_chunk_size: int = Field(
        default=200, gt=0, le=200, description="Records per sObject Collections call (Salesforce allows 200)."
    )
    query_batch_size: int | None = Field(
        default=None,
        ge=200,
        le=2000,
        description="Sforce-Query-Options batchSize for REST queries (None = 2000).",
    )

    # ---- Bulk API 2.0 ------------------------------------------------------------------------------
    bulk_max_upload_bytes: int = Field(
        default=100_000_000, gt=0, le=100_000_000, description="Largest raw CSV accepted for one ingest job."
    )
    bulk_poll_initial_seconds: float = Field(
        default=1.0, gt=0, description="First wait before polling a Bulk job."
    )
    bulk_poll_max_seconds: float = Field(
        default=15.0, gt=0, description="Longest wait between two polls of a job."
    )
    bulk_poll_multiplier: float = Field(default=1.5, ge=1, description="Poll interval growth factor.")
    bulk_job_timeout_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Give up waiting for a Bulk job after this long (the job keeps running).",
    )
    bulk_query_page_records: int | None = Field(
        default=None,
        gt=0,
        description="maxRecords per Bulk query results page (None = Salesforce's default).",
    )

    @field_validator("login_url", "instance_url", "jwt_audience")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not a URL; write it as https://host[:port]")
        return value

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = value.strip().lstrip("vV")
        major, _, minor = value.partition(".")
        if not major.isdigit() or (minor and not minor.isdigit()):
            raise ValueError(f'api_version {value!r} is not a version such as "62.0"')
        return f"{int(major)}.{minor or '0'}"

    def problems(self) -> list[str]:
        """What is missing or contradictory for ``flow``; empty when the settings can be used."""
        out = [
            f"setting '{name}' is required for the {self.flow} flow"
            for name in _REQUIRED[self.flow]
            if getattr(self, name) in (None, "")
        ]
        if self.flow == "jwt":
            if self.private_key is None and self.private_key_file is None:
                out.append(
                    "the jwt flow needs 'private_key' (PEM text) or 'private_key_file' (path to a PEM file)"
                )
            if self.private_key is not None and self.private_key_file is not None:
                out.append("give either 'private_key' or 'private_key_file', not both")
        if self.ca_bundle is not None and not self.ca_bundle.is_file():
            out.append(f"ca_bundle {str(self.ca_bundle)!r} is not a readable file")
        if self.backoff_max_seconds < self.backoff_base_seconds:
            out.append("backoff_max_seconds must be at least backoff_base_seconds")
        return out

    @property
    def data_path(self) -> str:
        """Root-relative path of the REST API for ``api_version``, e.g. ``/services/data/v62.0``."""
        return f"/services/data/v{self.api_version}"


__all__ = [
    "DEFAULT_API_VERSION",
    "PRODUCTION_LOGIN_URL",
    "SANDBOX_LOGIN_URL",
    "ConnectionSettings",
    "Flow",
]
