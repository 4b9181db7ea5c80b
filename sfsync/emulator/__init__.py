"""A local Salesforce org: REST, OAuth, SOAP login, sObject Collections and Bulk API 2.0 over HTTP.

Standalone: imports nothing from the rest of sfsync, and runtime code never imports it.

Public API: :func:`create_app` (the ASGI app, mountable in-process) and :func:`serve` (uvicorn). They
are loaded lazily so that importing a metadata module (``sfsync.emulator.metadata.model``) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sfsync.emulator.endpoints.app import create_app
    from sfsync.emulator.server import serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from sfsync.emulator.endpoints.app import create_app

        return create_app
    if name == "serve":
        from sfsync.emulator.server import serve

        return serve
    raise AttributeError(f"module 'sfsync.emulator' has no attribute {name!r}")
