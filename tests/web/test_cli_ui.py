"""``sfsync ui``: refuses non-loopback addresses without a token; serves the API with one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sfsync.errors import ConfigError
from sfsync.web import check_bind, token_from_env
from tests.web.conftest import TOKEN, write_project

#: Seconds ``sfsync ui`` may take to start answering.
START_TIMEOUT_S = 30


def sfsync(*args: str) -> list[str]:
    return [sys.executable, "-c", "from sfsync.cli import main; main()", *args]


def test_check_bind_rule() -> None:
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "secret")
    with pytest.raises(ConfigError, match="without a login token"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ConfigError):
        check_bind("localhost", "")
    assert token_from_env({"SFSYNC_UI_TOKEN": ""}) is None
    assert token_from_env({"SFSYNC_UI_TOKEN": "x"}) == "x"


def test_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", "http://127.0.0.1:9")
    done = subprocess.run(
        sfsync("ui", "--host", "0.0.0.0", "--project", str(project)),
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "SFSYNC_UI_TOKEN"},
    )
    assert done.returncode == 2
    assert "refusing to serve the UI on 0.0.0.0 without a login token" in done.stderr
    assert "SFSYNC_UI_TOKEN" in done.stderr


def test_a_weak_token_is_refused(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", "http://127.0.0.1:9")
    done = subprocess.run(
        sfsync("ui", "--project", str(project)),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SFSYNC_UI_TOKEN": "secret"},
    )
    assert done.returncode == 2
    assert "SFSYNC_UI_TOKEN is too weak" in done.stderr and "token_urlsafe" in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serves_the_api_with_a_token(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", "http://127.0.0.1:9")
    port = _free_port()
    env = {**os.environ, "SFSYNC_UI_TOKEN": TOKEN}
    proc = subprocess.Popen(
        sfsync("ui", "--port", str(port), "--project", str(project)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                response = httpx.get(f"{url}/api/syncs", headers={"Authorization": f"Bearer {TOKEN}"})
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "sfsync ui did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert [s["name"] for s in response.json()] == ["contacts"]
        assert httpx.get(f"{url}/api/syncs").status_code == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in out
    assert TOKEN not in out + err


def _start(project: Path, port: int, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        sfsync("ui", "--port", str(port), "--project", str(project), *extra),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_serving(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            httpx.get(f"{url}/login")
            return
        except httpx.TransportError:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "sfsync ui did not start"
            time.sleep(0.1)


@pytest.mark.slow
def test_without_a_token_one_is_generated_and_printed(tmp_path: Path) -> None:
    """Loopback is shared by every user of the machine: the UI never opens without a login by default."""
    project = write_project(tmp_path / "p", "http://127.0.0.1:9")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "SFSYNC_UI_TOKEN"}
    proc = _start(project, port, env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(proc, url)
        assert httpx.get(f"{url}/api/syncs").status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    token = out.split("log in with the token ", 1)[1].split(" ", 1)[0]
    assert len(token) >= 24
    proc = _start(project, port, {**env, "SFSYNC_UI_TOKEN": token})
    try:
        _wait_until_serving(proc, url)
        assert httpx.get(f"{url}/api/syncs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.mark.slow
def test_no_login_serves_loopback_openly(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", "http://127.0.0.1:9")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "SFSYNC_UI_TOKEN"}
    proc = _start(project, port, env, "--no-login")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(proc, url)
        assert httpx.get(f"{url}/api/syncs").status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "no login: loopback only" in out
