"""The emulator's ASGI application: ``create_app`` wires the org, its record engine and every route."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from sfsync.emulator.endpoints import admin, auth, bulk, bulk_query, collections, rest
from sfsync.emulator.endpoints.sessions import Runtime
from sfsync.emulator.endpoints.wire import NOT_FOUND_MESSAGE, error_response
from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.records.org import Org


def load_config(config: OrgConfig | None, org_file: str | None) -> OrgConfig:
    """The org to serve: ``config`` as given, else the default org plus ``org_file``'s additions."""
    if config is not None:
        if org_file is not None:
            raise ValueError("create_app takes config or org_file, not both")
        return config
    from sfsync.emulator.metadata.schema import default_org

    base = default_org()
    if org_file is None:
        return base
    from sfsync.emulator.metadata.orgfile import load_org_file

    return load_org_file(org_file, base)


class CollapseSlashes:
    """ASGI middleware: ``//services/data`` is ``/services/data`` (the ``sf`` CLI keeps a trailing slash
    on its instance URL and so doubles the first slash of every path; real orgs accept that)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            path = re.sub("/{2,}", "/", scope["path"])
            raw = re.sub(rb"/{2,}", b"/", scope.get("raw_path") or path.encode())
            scope = {**scope, "path": path, "raw_path": raw}
        await self.app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
    if exc.status_code == 405:
        return error_response(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are "
            f"{(exc.headers or {}).get('Allow', 'GET')}",
        )
    return error_response(exc.status_code, "UNKNOWN_EXCEPTION", str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "UNKNOWN_EXCEPTION", f"An unexpected error occurred: {type(exc).__name__}")


def create_app(
    config: OrgConfig | None = None,
    *,
    org_file: str | None = None,
    db_path: str | None = None,
    allow_remote_admin: bool = False,
) -> Starlette:
    """The emulator as an ASGI app.

    ``config``: the org to serve (default: :func:`sfsync.emulator.metadata.schema.default_org`, plus
    ``org_file``'s users, apps, objects and faults when given). ``db_path``: SQLite file keeping records
    across restarts (default: in memory). ``allow_remote_admin``: let non-loopback callers use ``/__admin``.
    ``app.state.org`` is the record engine, ``app.state.config`` the org config,
    ``app.state.runtime`` the sessions, usage, jobs and cursors. Call ``app.state.close()`` (or run the
    ASGI lifespan) to stop Bulk workers and delete spool files.
    """
    cfg = load_config(config, org_file)
    org = Org(cfg, db_path)
    rt = Runtime(cfg, org, allow_remote_admin=allow_remote_admin)
    spool = bulk.spool_root()
    rt.ingest = bulk.IngestJobs(rt, spool)
    rt.query_jobs = bulk_query.QueryJobs(rt, spool)
    rt.cursors = rest.QueryCursors()
    closed = False

    def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        rt.ingest.close()
        rt.query_jobs.close()
        org.close()
        shutil.rmtree(spool, ignore_errors=True)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        close()

    routes: list[BaseRoute] = [
        *auth.routes(),
        *rest.routes(),
        *collections.routes(),
        *bulk.routes(),
        *bulk_query.routes(),
        *admin.routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(CollapseSlashes)],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.runtime = rt
    app.state.org = org
    app.state.config = cfg
    app.state.close = close
    return app
