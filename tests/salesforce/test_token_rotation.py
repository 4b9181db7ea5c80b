"""Refresh-token rotation end to end: sfsync's client and state store against the emulator's token
endpoint, over several runs, several refreshes in a run, and several processes refreshing at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from sfsync.emulator.metadata.model import AppDef, OrgConfig, RefreshTokenDef
from sfsync.errors import AuthError
from sfsync.salesforce import ConnectionSettings, SalesforceClient
from sfsync.state import TokenFile
from tests.salesforce.conftest import FAST

CONFIGURED = "5Aep-configured-token"
OTHER = "5Aep-another-configured-token"
APP = {"client_id": "rotating-app", "client_secret": "rotating-secret"}


@pytest.fixture
def org_config(org_config: OrgConfig) -> OrgConfig:
    org_config.apps.append(AppDef(**APP, rotate_refresh_tokens=True))
    org_config.refresh_tokens.append(RefreshTokenDef(CONFIGURED, "admin@example.com", "rotating-app"))
    return org_config


def settings(login_url: str) -> ConnectionSettings:
    return ConnectionSettings(
        login_url=login_url,
        flow="refresh_token",
        client_id=APP["client_id"],
        refresh_token=SecretStr(CONFIGURED),
        **FAST,
    )


def test_rotation_over_several_runs_and_refreshes(emulator: Any, tmp_path: Path) -> None:
    store = TokenFile(tmp_path / ".sfsync", "org")
    for _run in range(3):
        with SalesforceClient(
            settings(emulator.base_url), transport=emulator.transport, token_store=store
        ) as sf:
            sf.describe_global()
            emulator.runtime.sessions.expire_all()  # the session expires: the run refreshes again
            sf.invalidate_describe()
            sf.describe_global()
            assert sf.stats.reauthentications == 1
    newest = store.load(CONFIGURED)
    assert newest is not None and newest != CONFIGURED
    # the configured token was rotated out long ago: a client that ignored the store would fail
    with (
        SalesforceClient(settings(emulator.base_url), transport=emulator.transport) as stale,
        pytest.raises(AuthError) as exc,
    ):
        stale.authenticate()
    assert exc.value.code == "invalid_grant" and "authorize the connected app again" in (exc.value.hint or "")


def test_a_revoked_chain_is_reported_with_what_to_do(emulator: Any, tmp_path: Path) -> None:
    store = TokenFile(tmp_path / ".sfsync", "org")
    with SalesforceClient(settings(emulator.base_url), transport=emulator.transport, token_store=store) as sf:
        sf.authenticate()
    # someone presents the rotated-out configured token: Salesforce revokes the whole chain
    other = SalesforceClient(settings(emulator.base_url), transport=emulator.transport)
    with other, pytest.raises(AuthError):
        other.authenticate()
    with (
        SalesforceClient(settings(emulator.base_url), transport=emulator.transport, token_store=store) as sf,
        pytest.raises(AuthError) as exc,
    ):
        sf.authenticate()
    assert "refresh_token" in (exc.value.hint or "") and "5Aep" not in str(exc.value)


_CHILD = """
import os, sys, time
from pathlib import Path
from sfsync.salesforce import ConnectionSettings, SalesforceClient
from sfsync.state import TokenFile
start = Path(sys.argv[2])
Path(f"{start}.ready.{os.getpid()}").touch()
while not start.exists():
    time.sleep(0.005)
settings = ConnectionSettings(login_url=sys.argv[1], flow="refresh_token", client_id="rotating-app",
                              refresh_token=sys.argv[4], max_retries=0)
store = TokenFile(Path(sys.argv[3]), "org") if sys.argv[3] != "-" else None
try:
    with SalesforceClient(settings, token_store=store) as sf:
        sf.authenticate()
    print("ok")
except Exception as exc:
    print(type(exc).__name__, getattr(exc, "message", exc))
"""


def _race(url: str, tmp_path: Path, state: str, token: str, n: int = 3) -> list[str]:
    """``n`` processes refresh ``token`` at the same moment; what each printed."""
    start = tmp_path / f"start-{state.replace('/', '_')}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, url, str(start), state, token],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(n)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob(f"{start.name}.ready.*"))) < n and time.monotonic() < deadline:
        time.sleep(0.01)  # every child imported and waits at the start line
    start.touch()
    return [p.communicate(timeout=60)[0].strip() for p in procs]


def test_processes_sharing_a_state_directory_refresh_one_at_a_time(
    live_emulator: Any, tmp_path: Path
) -> None:
    live_emulator.config.refresh_tokens.append(RefreshTokenDef(OTHER, "admin@example.com", "rotating-app"))
    live_emulator.set_faults(token_delay_seconds=1.0)  # each refresh holds the token for a while
    unlocked = _race(live_emulator.url, tmp_path, "-", CONFIGURED)
    assert any("token request is already being processed" in line for line in unlocked), unlocked
    locked = _race(live_emulator.url, tmp_path, str(tmp_path / "state"), OTHER)
    assert locked == ["ok", "ok", "ok"]
    newest = TokenFile(tmp_path / "state", "org").load(OTHER)
    assert newest is not None and newest != OTHER
