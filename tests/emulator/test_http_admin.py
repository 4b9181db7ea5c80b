"""The admin endpoint, the real-socket servers (plain and TLS) and the ``sfsync emulator`` command."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest


def test_admin_faults_reset_and_usage_over_a_socket(live_emulator: Any) -> None:
    admin = httpx.Client(base_url=live_emulator.url)
    api = httpx.Client(
        base_url=live_emulator.url, headers={"Authorization": f"Bearer {live_emulator.token()}"}
    )
    assert admin.get("/__admin/faults").json()["daily_api_quota"] == 15000
    changed = admin.patch("/__admin/faults", json={"daily_api_quota": 2, "unavailable_rate": 0.0})
    assert changed.status_code == 200 and changed.json()["daily_api_quota"] == 2
    assert live_emulator.config.faults.daily_api_quota == 2
    assert api.post("/services/data/v60.0/sobjects/Account/", json={"Name": "A"}).status_code == 201
    assert api.get("/services/data/v60.0/limits").headers["Sforce-Limit-Info"] == "api-usage=2/2"
    assert api.get("/services/data/v60.0/limits").status_code == 403
    usage = admin.get("/__admin/usage").json()
    assert usage["api_requests"] == 2 and usage["refused_requests"] == 1 and usage["remaining"] == 0
    assert admin.post("/__admin/reset").json() == {"reset": True}
    assert admin.get("/__admin/usage").json()["api_requests"] == 0
    assert live_emulator.org.query("SELECT COUNT() FROM Account").total_size == 0
    assert api.get("/services/data/v60.0/limits").status_code == 200  # sessions survive a reset


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"nope": 1}, "unknown fault setting 'nope'"),
        ({"unavailable_rate": 2}, "between 0 and 1"),
        ({"bulk_fail": "yes"}, "must be bool"),
        ({"daily_api_quota": True}, "must be int"),
    ],
)
def test_admin_rejects_bad_fault_values(emulator: Any, change: dict[str, Any], word: str) -> None:
    http = httpx.Client(transport=emulator.transport, base_url=emulator.base_url)
    r = http.patch("/__admin/faults", json=change)
    assert r.status_code == 400 and word in r.json()[0]["message"]


def test_admin_refuses_non_loopback_callers(emulator: Any) -> None:
    import anyio

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=emulator.app, client=("192.0.2.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as c:
            return await c.get("/__admin/faults")

    r = anyio.run(call)
    assert r.status_code == 403 and r.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS"


def test_tls_server_is_trusted_through_its_ca(live_tls_emulator: Any) -> None:
    assert live_tls_emulator.url.startswith("https://127.0.0.1:")
    ctx = ssl.create_default_context(cafile=str(live_tls_emulator.ca_path))
    with httpx.Client(base_url=live_tls_emulator.url, verify=ctx) as http:
        token = http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": "sfsync-demo-client",
                "client_secret": "sfsync-demo-secret",
                "username": "admin@example.com",
                "password": "sfsync-demo",
            },
        ).json()
        assert token["instance_url"] == live_tls_emulator.url
        r = http.get(
            "/services/data/v62.0/sobjects", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        assert r.status_code == 200
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=ssl.create_default_context()) as untrusting:
        untrusting.get(f"{live_tls_emulator.url}/services/data")
    localhost = live_tls_emulator.url.replace("127.0.0.1", "localhost")
    assert httpx.get(f"{localhost}/services/data", verify=ctx).status_code == 200


@pytest.mark.slow
def test_cli_refuses_a_broken_org_file(tmp_path: Path) -> None:
    bad = tmp_path / "org.yaml"
    bad.write_text("users: [{username: jane}]\n")
    run = subprocess.run(
        [sys.executable, "-c", "from sfsync.cli import main; main()", "emulator", "--org", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "org.yaml" in run.stderr
    missing = subprocess.run(
        [
            sys.executable,
            "-c",
            "from sfsync.cli import main; main()",
            "emulator",
            "--org",
            str(tmp_path / "nope.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "does not exist" in " ".join(missing.stderr.split())


def test_public_api_of_the_emulator_package() -> None:
    import sfsync.emulator as emulator_pkg
    from sfsync.emulator.endpoints.app import create_app
    from sfsync.emulator.server import serve

    assert emulator_pkg.__all__ == ["create_app", "serve"]
    assert emulator_pkg.create_app is create_app and emulator_pkg.serve is serve
    app = create_app()
    try:
        assert app.state.org is app.state.runtime.org and app.state.config.org_id.startswith("00D")
    finally:
        app.state.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_banner_shows_the_credentials_the_org_really_accepts(tmp_path: Path) -> None:
    """An org file that changes the admin's password must not leave the banner advertising the default."""
    org = tmp_path / "org.yaml"
    org.write_text("users:\n  - username: admin@example.com\n    password: changed-in-org-file\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sfsync.cli import main; main()",
            "emulator",
            "--org",
            str(org),
            "--port",
            str(_free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "admin (faults" in line:
                break
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    banner = "".join(lines)
    assert "password: as set in the org file" in banner
    assert "sfsync-demo " not in banner and "changed-in-org-file" not in banner
    assert "client_secret=sfsync-demo-secret" in banner  # the app was not changed


def test_bulk_job_ids_are_not_reused_after_a_restart(tmp_path: Path) -> None:
    """Jobs live in memory, records in --db: a restarted emulator must not hand out old job ids."""
    from sfsync.emulator.endpoints.app import create_app

    ids = []
    for _ in range(2):
        app = create_app(db_path=str(tmp_path / "org.db"))
        try:
            ids.append(app.state.runtime.ingest.new_id())
        finally:
            app.state.close()
    assert ids[0] != ids[1] and ids[0] < ids[1]
