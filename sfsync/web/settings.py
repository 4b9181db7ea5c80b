"""Settings of the web UI: where the project is, who may come in, and the tuning knobs of its pages.

Access rule: with a token (``SFSYNC_UI_TOKEN``) every page and API call needs it (a login form for
browsers, ``Authorization: Bearer <token>`` for API clients). Without one the UI binds only to the
loopback address 127.0.0.1 (:func:`check_bind`), so nobody else on the network reaches it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from sfsync.errors import ConfigError

TOKEN_ENV = "SFSYNC_UI_TOKEN"
"""Environment variable holding the UI's password/token."""

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8700


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
    #: Runs and plans started from the UI that may work at once (each holds its sync's run lock).
    max_background_jobs: int = 2
    #: Finished background jobs remembered for status polling (oldest forgotten first).
    jobs_kept: int = 200
    #: Seconds a login session lasts.
    session_seconds: int = 12 * 3600
    #: Milliseconds between two status polls of a running job on its page.
    poll_ms: int = 1000
    #: Tests mount the Salesforce emulator in-process with this (never set in production).
    transport: httpx.BaseTransport | None = None

    @property
    def auth_required(self) -> bool:
        return bool(self.token)


def token_from_env(environ: dict[str, str] | None = None) -> str | None:
    """The UI token from the environment, or None when unset or empty."""
    value = (environ if environ is not None else os.environ).get(TOKEN_ENV, "")
    return value or None


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on anything but 127.0.0.1 without a token (ConfigError says how to fix it)."""
    if token:
        return
    if host != LOOPBACK:
        raise ConfigError(
            f"refusing to serve the UI on {host} without a login token",
            hint=f"set {TOKEN_ENV} to a long random secret, or bind to {LOOPBACK} (the default)",
        )


__all__ = ["DEFAULT_PORT", "LOOPBACK", "TOKEN_ENV", "UiSettings", "check_bind", "token_from_env"]
