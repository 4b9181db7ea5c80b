"""The web UI's ASGI application: pages, the JSON API, static files, access control.

``create_app(settings)`` builds it; ``sfsync ui`` serves it with uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from sfsync.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    SalesforceConfigError,
    SfsyncError,
    SyncRefused,
)
from sfsync.schedule.metrics import metrics_registry, metrics_text
from sfsync.web import api, pages
from sfsync.web.security import AuthMiddleware, LoginThrottle, Signer
from sfsync.web.service import UiService
from sfsync.web.settings import UiSettings

STATIC_DIR = Path(__file__).parent / "static"


def _status(exc: SfsyncError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, SyncRefused):
        return 422
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, ConfigError | SalesforceConfigError):
        return 400
    return 502  # the warehouse or the org failed: a bad gateway from the UI's point of view


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def create_app(settings: UiSettings) -> FastAPI:
    service = UiService(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="sfsync",
        summary="Warehouse → Salesforce syncs: configuration, runs and rejected rows.",
        description="The JSON API behind the sfsync web UI. Authenticate with `Authorization: Bearer "
        "<SFSYNC_UI_TOKEN>` (or a browser session). Secrets of the project are never returned.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI would load from a CDN: the schema is at /openapi.json
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.signer = Signer()
    app.state.throttle = LoginThrottle(settings.login_attempts, settings.login_lockout_seconds)
    app.add_middleware(
        AuthMiddleware, settings=settings, signer=app.state.signer, throttle=app.state.throttle
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    registry = metrics_registry(service.facade)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus metrics of the project (docs/deployment.md#metrics); authenticated like the rest."""
        body, content_type = metrics_text(registry)
        return Response(body, media_type=content_type)

    @app.exception_handler(SfsyncError)
    async def sfsync_error(request: Request, exc: SfsyncError) -> Response:
        status = _status(exc)
        problems = (
            [p.model_dump(exclude_none=True) for p in exc.items]
            if isinstance(exc, SyncRefused)
            else [{"message": p} for p in exc.problems]
        )
        if _wants_json(request):
            body = {"detail": exc.message, "problems": problems}
            if exc.hint:
                body["hint"] = exc.hint
            return JSONResponse(body, status_code=status)
        return pages.page(
            request,
            "error.html",
            status,
            title="Not found" if status == 404 else "Something went wrong",
            message=exc.message,
            hint=exc.hint,
            problems=[p["message"] for p in problems if p["message"] != exc.message],
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"message": str(e.get("msg")), "path": ".".join(str(x) for x in e.get("loc", ()))}
            for e in exc.errors()
        ]
        if _wants_json(request):
            return JSONResponse({"detail": "invalid request", "problems": errors}, status_code=422)
        return pages.page(
            request,
            "error.html",
            422,
            title="Invalid request",
            message="invalid request",
            hint=None,
            problems=[f"{e['path']}: {e['message']}" for e in errors],
        )

    return app


__all__ = ["create_app"]
