"""Fixtures: the local org emulator, in-process and over real sockets (plain and TLS).

Every fixture is function-scoped: each test gets a fresh org (no records, usage 0, default faults).

``org_config`` -> :class:`sfsync.emulator.metadata.model.OrgConfig`
    A fresh default org (``schema.default_org()``); the emulator fixtures serve this very object.
    Logins read users, apps and refresh tokens per request, and faults are read per call, so changing
    those in the test body works (User records in queries are seeded when the app is built).
    Objects and fields are compiled when the app is built: change those in a fixture that the test lists
    *before* ``emulator`` (e.g. ``def sf(my_fields: None, emulator): ...``).

``emulator`` -> :class:`InProcessEmulator`
    The app called in-process, no socket. Attributes:
    ``.app`` (Starlette app), ``.org`` (record engine ``Org``), ``.config`` (the ``OrgConfig``),
    ``.base_url`` (``"https://emulator.test"``; the instance URL answers carry),
    ``.transport`` (a SYNC ``httpx.BaseTransport`` calling the app; safe to share between threads:
    ``httpx.Client(transport=emulator.transport, base_url=emulator.base_url)``),
    ``.set_faults(**kw)`` (change ``FaultSettings`` fields, validated like ``PATCH /__admin/faults``),
    ``.token()`` (a fresh valid access token for the default user ``admin@example.com``),
    ``.client(token=None)`` (an ``httpx.Client`` on the transport with ``Authorization: Bearer``),
    ``.usage()`` (API calls counted so far), ``.reset()`` (delete all records, jobs, usage).

``live_emulator`` -> :class:`LiveEmulator`
    A real uvicorn server on ``127.0.0.1`` and a free port, on a background thread; stopped at teardown.
    ``.url`` (``"http://127.0.0.1:PORT"``), ``.port``, ``.app``, ``.org``, ``.config``, ``.set_faults(**kw)``,
    ``.token()``, ``.usage()``, ``.reset()``.

``live_tls_emulator`` -> :class:`LiveEmulator`
    The same over https (``.url`` = ``"https://127.0.0.1:PORT"``) with a certificate for 127.0.0.1 and
    localhost signed by a throwaway CA; ``.ca_path`` is that CA's PEM file (give it to
    ``httpx.Client(verify=...)``, ``requests.Session.verify`` or ``REQUESTS_CA_BUNDLE``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.applications import Starlette

from sfsync.emulator.endpoints.admin import apply_faults, reset
from sfsync.emulator.endpoints.app import create_app
from sfsync.emulator.endpoints.sessions import Runtime
from sfsync.emulator.metadata.model import FaultSettings, OrgConfig
from sfsync.emulator.metadata.schema import default_org
from sfsync.emulator.records.org import Org
from sfsync.emulator.server import BackgroundServer
from sfsync.emulator.tls import ensure_tls_files

IN_PROCESS_BASE_URL = "https://emulator.test"


class _EmulatorBase:
    app: Starlette

    @property
    def runtime(self) -> Runtime:
        rt: Runtime = self.app.state.runtime
        return rt

    @property
    def org(self) -> Org:
        org: Org = self.app.state.org
        return org

    @property
    def config(self) -> OrgConfig:
        cfg: OrgConfig = self.app.state.config
        return cfg

    def set_faults(self, **changes: Any) -> FaultSettings:
        return apply_faults(self.runtime, changes)

    def token(self) -> str:
        """A session of the org's first active user (what a client logging in as admin gets)."""
        user = next(u for u in self.config.users if u.active)
        return self.runtime.sessions.issue(user, None).token

    def usage(self) -> int:
        return self.runtime.usage.used

    def reset(self) -> None:
        reset(self.runtime)


class InProcessTransport(httpx.BaseTransport):
    """A sync httpx transport that runs an ASGI app on one event loop thread (an anyio portal).

    Thread-safe: any number of threads may send requests at once; they all run on the portal's loop,
    and the app's sync endpoints run in its thread pool as under uvicorn.
    """

    def __init__(self, app: Starlette) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000), raise_app_exceptions=False)
        self._portal_cm: Any = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        inner = httpx.Request(request.method, request.url, headers=request.headers, content=body)

        async def send() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self._asgi.handle_async_request(inner)
            content = await response.aread()
            return response.status_code, response.headers.raw, content

        status, headers, content = self._portal.call(send)
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        """No-op: clients that close their transport (``with httpx.Client(transport=...)``) must not stop
        the emulator shared by the whole test. The fixture calls :meth:`shutdown` at teardown."""

    def shutdown(self) -> None:
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None


class InProcessEmulator(_EmulatorBase):
    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.base_url = IN_PROCESS_BASE_URL
        self.transport = InProcessTransport(app)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        return httpx.Client(transport=self.transport, base_url=self.base_url, headers=headers)

    def close(self) -> None:
        self.transport.shutdown()
        self.app.state.close()


class LiveEmulator(_EmulatorBase):
    def __init__(self, app: Starlette, server: BackgroundServer, ca_path: Path | None = None) -> None:
        self.app = app
        self.server = server
        self.ca_path = ca_path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def close(self) -> None:
        self.server.stop()
        self.app.state.close()


@pytest.fixture
def org_config() -> OrgConfig:
    return default_org()


@pytest.fixture
def emulator(org_config: OrgConfig) -> Iterator[InProcessEmulator]:
    emu = InProcessEmulator(create_app(org_config))
    try:
        yield emu
    finally:
        emu.close()


@pytest.fixture
def live_emulator(org_config: OrgConfig) -> Iterator[LiveEmulator]:
    app = create_app(org_config)
    emu = LiveEmulator(app, BackgroundServer(app).start())
    try:
        yield emu
    finally:
        emu.close()


@pytest.fixture(scope="session")
def _emulator_tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("emulator-tls")
    ensure_tls_files(directory)
    return directory


@pytest.fixture
def live_tls_emulator(org_config: OrgConfig, _emulator_tls_dir: Path) -> Iterator[LiveEmulator]:
    files = ensure_tls_files(_emulator_tls_dir)
    app = create_app(org_config)
    emu = LiveEmulator(app, BackgroundServer(app, tls=files).start(), ca_path=files.ca_path)
    try:
        yield emu
    finally:
        emu.close()
