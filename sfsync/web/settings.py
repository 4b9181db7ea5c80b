"""Settings of the web UI: where the project is, who may come in, and the tuning knobs of its pages.

Access rule: with a token every page and API call needs it (a login form for browsers,
``Authorization: Bearer <token>`` for API clients). ``sfsync ui`` takes it from ``SFSYNC_UI_TOKEN`` (at
least :data:`MIN_TOKEN_LENGTH` characters) or, when none is set, generates one and prints it. Without any
(``sfsync ui --no-login``) the UI binds only to the loopback address 127.0.0.1 (:func:`check_bind`), so
nobody else on the network reaches it. Failed logins are throttled per client address.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx

from sfsync.errors import ConfigError

TOKEN_ENV = "SFSYNC_UI_TOKEN"
"""Environment variable holding the UI's password/token."""

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8700

MIN_TOKEN_LENGTH = 24
"""Shortest token the UI accepts (``secrets.token_urlsafe(18)`` is 24 characters: 144 random bits)."""


@dataclass(frozen=True)
class UiSettings:
    """Everything ``create_app`` needs. Only ``project_file`` is required."""

    project_file: Path
    token: str | None = None
    #: Rows shown by a model's or segment's preview.
    preview_rows: int = 20
    #: Runs listed on a sync's page (most recent first).
    history_limit: int = 50
    #: Rejected rows shown per page of a run.
    rejected_page_size: int = 100
    #: Row results shown per page of the row debugger.
    rows_page_size: int = 50
    #: Runs drawn in a sync's history chart (and in the trend on the syncs page).
    chart_runs: int = 30
    #: Runs and plans started from the UI that may work at once (each holds its sync's run lock).
    max_background_jobs: int = 2
    #: Finished background jobs remembered for status polling (oldest forgotten first).
    jobs_kept: int = 200
    #: Seconds a login session lasts.
    session_seconds: int = 12 * 3600
    #: Milliseconds between two status polls of a running job on its page.
    poll_ms: int = 1000
    #: Failed logins (form or bearer token) one client address may make before it is locked out.
    login_attempts: int = 5
    #: Seconds a client address stays locked out after too many failed logins (doubling while it retries).
    login_lockout_seconds: float = 60.0
    #: Tests mount the Salesforce emulator in-process with this (never set in production).
    transport: httpx.BaseTransport | None = None

    @property
    def auth_required(self) -> bool:
        return bool(self.token)


def token_from_env(environ: dict[str, str] | None = None) -> str | None:
    """The UI token from the environment, or None when unset or empty."""
    value = (environ if environ is not None else os.environ).get(TOKEN_ENV, "")
    return value or None


def check_token(token: str) -> str:
    """``token`` when it is long enough to guard the UI; ConfigError saying how to make one otherwise."""
    if len(token) < MIN_TOKEN_LENGTH or len(set(token)) < 8:
        raise ConfigError(
            f"{TOKEN_ENV} is too weak: the UI needs a token of at least {MIN_TOKEN_LENGTH} characters "
            "with some variety",
            hint="make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return token


def generate_token() -> str:
    """A fresh random token for a UI started without one (printed once; valid until it stops)."""
    return secrets.token_urlsafe(24)


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on anything but 127.0.0.1 without a token (ConfigError says how to fix it)."""
    if token:
        return
    if host != LOOPBACK:
        raise ConfigError(
            f"refusing to serve the UI on {host} without a login token",
            hint=f"set {TOKEN_ENV} to a long random secret, or bind to {LOOPBACK} (the default)",
        )


__all__ = [
    "DEFAULT_PORT",
    "LOOPBACK",
    "MIN_TOKEN_LENGTH",
    "TOKEN_ENV",
    "UiSettings",
    "check_bind",
    "check_token",
    "generate_token",
    "token_from_env",
]
