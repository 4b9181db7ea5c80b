"""The token endpoint's refresh-token rules: rotation, reuse of a rotated-out token, concurrent refreshes
with one token, and the transient ``unknown_error`` fault.

Real-org behaviour followed (cited in sfsync/emulator/endpoints/sessions.py): Salesforce Help "OAuth 2.0
Refresh Token Flow for Renewed Sessions" (rotation, reuse revokes the chain) and the Winter '25 change
recorded by segmentio/action-destinations PR #2300 (``invalid_grant`` / "token request is already being
processed").
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from sfsync.emulator.metadata.model import AppDef, OrgConfig, RefreshTokenDef
from sfsync.emulator.metadata.orgfile import load_org_file

ROTATING = {"client_id": "rotating-app", "client_secret": "rotating-secret"}


@pytest.fixture
def org_config(org_config: OrgConfig) -> OrgConfig:
    org_config.apps.append(AppDef(**ROTATING, rotate_refresh_tokens=True))
    org_config.refresh_tokens.append(RefreshTokenDef("5Aep-rotating-0", "admin@example.com", "rotating-app"))
    org_config.refresh_tokens.append(
        RefreshTokenDef("5Aep-fixed-0", "admin@example.com", "sfsync-demo-client")
    )
    return org_config


@pytest.fixture
def http(emulator: Any) -> httpx.Client:
    return httpx.Client(transport=emulator.transport, base_url=emulator.base_url)


def refresh(http: httpx.Client, token: str, client_id: str = "rotating-app") -> httpx.Response:
    form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": token}
    return http.post("/services/oauth2/token", data=form)


def userinfo(http: httpx.Client, access_token: str) -> int:
    return http.get(
        "/services/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"}
    ).status_code


def test_rotation_issues_a_new_token_each_refresh_and_the_old_one_stops_working(http: httpx.Client) -> None:
    tokens = ["5Aep-rotating-0"]
    for _ in range(3):
        r = refresh(http, tokens[-1])
        assert r.status_code == 200, r.text
        tokens.append(r.json()["refresh_token"])
    assert len(set(tokens)) == 4
    old = refresh(http, tokens[1])
    assert old.status_code == 400
    assert old.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def test_reusing_a_rotated_out_token_revokes_the_chain_and_its_sessions(http: httpx.Client) -> None:
    first = refresh(http, "5Aep-rotating-0").json()
    second = refresh(http, first["refresh_token"]).json()
    assert userinfo(http, second["access_token"]) == 200
    assert refresh(http, "5Aep-rotating-0").status_code == 400  # a stolen, rotated-out token
    assert userinfo(http, second["access_token"]) == 401
    assert userinfo(http, first["access_token"]) == 401
    assert refresh(http, second["refresh_token"]).status_code == 400  # the live one died too


def test_without_rotation_the_token_keeps_working_and_no_new_one_is_issued(http: httpx.Client) -> None:
    for _ in range(2):
        r = refresh(http, "5Aep-fixed-0", client_id="sfsync-demo-client")
        assert r.status_code == 200 and "refresh_token" not in r.json()


def test_concurrent_refreshes_with_one_token_are_refused(http: httpx.Client, emulator: Any) -> None:
    emulator.set_faults(token_delay_seconds=0.5)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: refresh(http, "5Aep-rotating-0"), range(2)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 400]
    refused = next(a for a in answers if a.status_code == 400).json()
    assert refused == {
        "error": "invalid_grant",
        "error_description": "token request is already being processed",
    }


def test_unknown_error_fault(http: httpx.Client, emulator: Any) -> None:
    emulator.set_faults(login_error_rate=1.0)
    r = http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": "sfsync-demo-client",
            "client_secret": "sfsync-demo-secret",
        },
    )
    assert r.status_code == 400 and r.json() == {
        "error": "unknown_error",
        "error_description": "retry your request",
    }


def test_org_file_turns_rotation_on(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text("apps:\n  - {client_id: etl, client_secret: s, rotate_refresh_tokens: true}\n")
    app = load_org_file(path).app("etl")
    assert app is not None and app.rotate_refresh_tokens
