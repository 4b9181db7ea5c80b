"""The web UI and its JSON HTTP API (``sfsync ui``).

::

    from sfsync.web import UiSettings, create_app
    app = create_app(UiSettings(project_file=Path("sfsync.yml"), token=os.environ.get("SFSYNC_UI_TOKEN")))

Pages are server-rendered (Jinja2) with htmx served from ``/static``; the API lives under ``/api`` with its
OpenAPI schema at ``/openapi.json`` (no Swagger UI: it would load from a CDN).
"""

from __future__ import annotations

from sfsync.web.app import create_app
from sfsync.web.settings import (
    DEFAULT_PORT,
    LOOPBACK,
    TOKEN_ENV,
    UiSettings,
    check_bind,
    check_token,
    generate_token,
    token_from_env,
)

__all__ = [
    "DEFAULT_PORT",
    "LOOPBACK",
    "TOKEN_ENV",
    "UiSettings",
    "check_bind",
    "check_token",
    "create_app",
    "generate_token",
    "token_from_env",
]
