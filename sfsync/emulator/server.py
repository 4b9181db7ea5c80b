"""Serving the emulator with uvicorn: in the foreground (``serve``) or on a background thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from sfsync.emulator.endpoints.app import create_app
from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.tls import TlsFiles, ensure_tls_files

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8642
STARTUP_TIMEOUT_SECONDS = 30.0
"""How long ``BackgroundServer.start`` waits for uvicorn to listen."""
KEEP_ALIVE_SECONDS = 30
"""Idle keep-alive connections are closed after this long."""


@dataclass(frozen=True)
class ServerPlan:
    """What ``serve`` will do, known before it blocks (the CLI prints it)."""

    url: str
    tls: TlsFiles | None


def plan(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, tls: bool = False, tls_dir: str | Path | None = None
) -> ServerPlan:
    files = ensure_tls_files(tls_dir) if tls else None
    shown = f"[{host}]" if ":" in host else host
    return ServerPlan(f"{'https' if tls else 'http'}://{shown}:{port}", files)


def _uvicorn_config(
    app: Starlette, host: str, port: int, files: TlsFiles | None, log_level: str
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        ssl_certfile=str(files.cert_path) if files else None,
        ssl_keyfile=str(files.key_path) if files else None,
    )


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    tls: bool = False,
    org_file: str | None = None,
    db_path: str | None = None,
    *,
    config: OrgConfig | None = None,
    tls_dir: str | Path | None = None,
    allow_remote_admin: bool = False,
    log_level: str = "warning",
) -> None:
    """Serve the emulator until interrupted. With ``tls``, the certificate comes from ``tls_dir``
    (default ``~/.sfsync/emulator-tls/``), created when missing."""
    files = plan(host, port, tls, tls_dir).tls
    app = create_app(config, org_file=org_file, db_path=db_path, allow_remote_admin=allow_remote_admin)
    run(app, host, port, files, log_level)


def run(
    app: Starlette, host: str, port: int, tls: TlsFiles | None = None, log_level: str = "warning"
) -> None:
    """Serve an app made by ``create_app`` in the foreground until interrupted (Ctrl+C)."""
    uvicorn.Server(_uvicorn_config(app, host, port, tls, log_level)).run()


class BackgroundServer:
    """The emulator on a uvicorn server in a daemon thread (tests, benchmarks, the demo).

    ``port=0`` picks a free port; ``url`` is known after :meth:`start`.
    """

    def __init__(
        self,
        app: Starlette,
        host: str = DEFAULT_HOST,
        port: int = 0,
        tls: TlsFiles | None = None,
        log_level: str = "warning",
    ) -> None:
        self.app = app
        self.host = host
        self.tls = tls
        self._server = uvicorn.Server(_uvicorn_config(app, host, port, tls, log_level))
        self._thread = threading.Thread(target=self._server.run, name="sfsync-emulator", daemon=True)
        self.port = port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the emulator server on {self.host}:{self.port} failed to start")
            deadline.wait(0.02)
            waited += 0.02
            if waited > STARTUP_TIMEOUT_SECONDS:
                raise RuntimeError(f"the emulator server did not start within {STARTUP_TIMEOUT_SECONDS}s")
        sockets = [s for srv in self._server.servers for s in srv.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Stop now: idle keep-alive connections are not waited for (they would hold TLS servers open)."""
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
