"""The admin endpoint (not part of Salesforce): change faults at run time, reset the org, read usage.

- ``GET /__admin/faults`` → the current :class:`FaultSettings` as JSON.
- ``PATCH /__admin/faults`` with a JSON object of some fields → the updated settings (unknown field or
  wrong type → 400 naming the field).
- ``POST /__admin/reset`` → deletes every record (users and the organization stay), all Bulk jobs and
  query cursors, and zeroes the usage counters. Sessions stay valid.
- ``GET /__admin/usage`` → ``{"api_requests": N, "refused_requests": N, "daily_api_quota": N, ...}``.

Unauthenticated, so it answers only callers on loopback unless the app was created with
``allow_remote_admin=True`` (403 otherwise).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sfsync.emulator.endpoints.sessions import Runtime
from sfsync.emulator.endpoints.wire import error_response, json_response
from sfsync.emulator.metadata.model import FaultSettings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "daily_api_quota": (int,),
    "lock_row_rate": (int, float),
    "unavailable_rate": (int, float),
    "session_seconds": (int,),
    "bulk_delay_seconds": (int, float),
    "bulk_fail": (bool,),
    "login_error_rate": (int, float),
    "token_delay_seconds": (int, float),
    "bulk_forget_jobs": (bool,),
    "seed": (int, type(None)),
}
_RATES = ("lock_row_rate", "unavailable_rate", "login_error_rate")
_NON_NEGATIVE = ("daily_api_quota", "session_seconds", "bulk_delay_seconds", "token_delay_seconds")


def fault_dict(faults: FaultSettings) -> dict[str, Any]:
    return dataclasses.asdict(faults)


def apply_faults(rt: Runtime, changes: dict[str, Any]) -> FaultSettings:
    """Validate then apply fault changes in place (the record engine reads the same object)."""
    known = {f.name for f in dataclasses.fields(FaultSettings)}
    for name, raw in changes.items():
        value: Any = raw
        if name not in known:
            raise ValueError(f"unknown fault setting {name!r}; known: {', '.join(sorted(known))}")
        types = _FIELD_TYPES.get(name, (object,))
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ValueError(
                f"fault setting {name!r} must be {' or '.join(t.__name__ for t in types)}, got {value!r}"
            )
        num = cast(float, value)
        if name in _RATES and not 0 <= num <= 1:
            raise ValueError(f"fault setting {name!r} is a fraction between 0 and 1, got {value!r}")
        if (
            name in ("daily_api_quota", "session_seconds", "bulk_delay_seconds", "token_delay_seconds")
            and num < 0
        ):
            raise ValueError(f"fault setting {name!r} cannot be negative, got {value!r}")
    for name, value in changes.items():
        setattr(rt.config.faults, name, value)
    if "seed" in changes:
        rt.dice.reseed(changes["seed"])
    return rt.config.faults


def _allowed(request: Request) -> bool:
    rt: Runtime = request.app.state.runtime
    host = request.client.host if request.client else ""
    return rt.allow_remote_admin or host in LOOPBACK_HOSTS


def _forbidden() -> Response:
    return error_response(
        403,
        "INSUFFICIENT_ACCESS",
        "The emulator's admin endpoint answers loopback callers only; start it with allow_remote_admin=True",
    )


async def faults_endpoint(request: Request) -> Response:
    if not _allowed(request):
        return _forbidden()
    rt: Runtime = request.app.state.runtime
    if request.method == "PATCH":
        try:
            changes = json.loads(await request.body() or b"{}")
        except ValueError as e:
            return error_response(400, "JSON_PARSER_ERROR", f"The body is not valid JSON: {e}")
        if not isinstance(changes, dict):
            return error_response(400, "JSON_PARSER_ERROR", "Send a JSON object of fault settings")
        try:
            apply_faults(rt, changes)
        except ValueError as e:
            return error_response(400, "INVALID_FIELD", str(e))
    return json_response(fault_dict(rt.config.faults))


def reset(rt: Runtime) -> None:
    rt.org.reset()
    rt.ingest.clear()
    rt.query_jobs.clear()
    rt.cursors.clear()
    rt.usage.reset()


async def reset_endpoint(request: Request) -> Response:
    if not _allowed(request):
        return _forbidden()
    rt: Runtime = request.app.state.runtime
    await run_in_threadpool(reset, rt)
    return json_response({"reset": True})


async def usage_endpoint(request: Request) -> Response:
    if not _allowed(request):
        return _forbidden()
    rt: Runtime = request.app.state.runtime
    return json_response(
        {
            "api_requests": rt.usage.used,
            "refused_requests": rt.usage.refused,
            "daily_api_quota": rt.config.faults.daily_api_quota,
            "remaining": max(0, rt.config.faults.daily_api_quota - rt.usage.used),
            "ingest_jobs": rt.ingest.count(),
            "query_jobs": rt.query_jobs.count(),
        }
    )


def routes() -> list[Route]:
    return [
        Route("/__admin/faults", faults_endpoint, methods=["GET", "PATCH"]),
        Route("/__admin/reset", reset_endpoint, methods=["POST"]),
        Route("/__admin/usage", usage_endpoint, methods=["GET"]),
    ]
