"""How the emulator answers on the wire: content types, the REST error array, and the API call guard.

Every ``/services/data/vNN.N/...`` endpoint is written as a plain function ``handler(call) -> Response``
and wrapped by :func:`api`, which, in this order: checks the API version (404 outside 50.0-62.0),
authenticates the ``Authorization: Bearer`` session (401 ``INVALID_SESSION_ID``), counts the call
against the daily quota (403 ``REQUEST_LIMIT_EXCEEDED`` once spent), rolls the ``unavailable_rate``
fault (503 ``SERVER_UNAVAILABLE``), reads the body, runs the handler in the thread pool (the record
engine is synchronous and thread-safe), turns :class:`OrgError` into the error array, and stamps
``Sforce-Limit-Info: api-usage=USED/MAX`` on the answer.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sfsync.emulator.records.org import OrgError

if TYPE_CHECKING:
    from sfsync.emulator.endpoints.sessions import Runtime, Session

log = logging.getLogger("sfsync.emulator")

JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "text/xml;charset=UTF-8"

MIN_VERSION = 50
MAX_VERSION = 62
VERSIONS = [f"{v}.0" for v in range(MIN_VERSION, MAX_VERSION + 1)]
_VERSION_RE = re.compile(r"^v(\d{2})\.0$")

NOT_FOUND_MESSAGE = "The requested resource does not exist"
SESSION_MESSAGE = "Session expired or invalid"


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, media_type=JSON_TYPE, headers=headers)


def error_response(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    return json_response(OrgError(status, code, message, fields).to_json(), status)


def org_error_response(err: OrgError) -> Response:
    return json_response(err.to_json(), err.status)


def slashed(
    path: str, endpoint: Callable[..., Any], methods: list[str], name: str | None = None
) -> list[Route]:
    """``path`` and ``path/``: Salesforce answers a resource with or without its trailing slash (clients
    differ: simple-salesforce adds one to ``sobjects/Account/``, jsforce does not)."""
    return [
        Route(path, endpoint, methods=methods, name=name),
        Route(f"{path}/", endpoint, methods=methods, name=f"{name}_slash" if name else None),
    ]


def base_url(request: Request) -> str:
    """The instance URL of an answer: the request's own ``scheme://host[:port]``, no trailing slash."""
    return f"{request.url.scheme}://{request.url.netloc}"


def parse_version(segment: str) -> str | None:
    """``v59.0`` → ``59.0`` when the version is served, else None."""
    m = _VERSION_RE.match(segment)
    if m is None or not MIN_VERSION <= int(m.group(1)) <= MAX_VERSION:
        return None
    return f"{int(m.group(1))}.0"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


@dataclass
class Call:
    """One authenticated API call, as handlers see it."""

    request: Request
    rt: Runtime
    session: Session
    version: str  # "59.0"
    body: bytes

    @property
    def base(self) -> str:
        return base_url(self.request)

    @property
    def prefix(self) -> str:
        """Root-relative path of this API version: ``/services/data/v59.0``."""
        return f"/services/data/v{self.version}"

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str, default: str | None = None) -> str | None:
        return self.request.query_params.get(name, default)

    def json(self) -> Any:
        """The request body as JSON, or 400 ``JSON_PARSER_ERROR``. ``NaN`` and ``Infinity`` are not JSON
        (RFC 8259 has no such numbers) and Salesforce's parser refuses them; so does this one."""
        try:
            return json.loads(self.body or b"null", parse_constant=_not_json)
        except ValueError as e:
            raise OrgError(400, "JSON_PARSER_ERROR", f"The request body is not valid JSON: {e}") from e

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise OrgError(
                400,
                "JSON_PARSER_ERROR",
                "Expected a JSON object as the request body, got "
                f"{type(data).__name__ if data is not None else 'nothing'}",
            )
        return data


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON value")


Handler = Callable[[Call], Response]
AsyncHandler = Callable[[Call], Awaitable[Response]]


def _guard(request: Request) -> Call | Response:
    """Version, session, quota and the 503 fault; a Call to go on with, or the answer to give."""
    rt: Runtime = request.app.state.runtime
    version = parse_version(str(request.path_params.get("version", "")))
    if version is None:
        return error_response(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
    token = bearer_token(request)
    session = rt.sessions.lookup(token) if token else None
    if session is None:
        return error_response(401, "INVALID_SESSION_ID", SESSION_MESSAGE)
    quota = rt.config.faults.daily_api_quota
    used, allowed = rt.usage.spend(quota)
    limit_header = {"Sforce-Limit-Info": f"api-usage={used}/{quota}"}
    if not allowed:
        resp = error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    elif rt.dice.roll(rt.config.faults.unavailable_rate):
        resp = error_response(
            503, "SERVER_UNAVAILABLE", "Server temporarily unavailable (emulator fault unavailable_rate)."
        )
    else:
        return Call(request=request, rt=rt, session=session, version=version, body=b"")
    resp.headers.update(limit_header)
    return resp


def _limit_header(call: Call) -> dict[str, str]:
    return {"Sforce-Limit-Info": f"api-usage={call.rt.usage.used}/{call.rt.config.faults.daily_api_quota}"}


def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a synchronous API handler into a Starlette endpoint (see the module docstring)."""

    async def endpoint(request: Request) -> Response:
        call = _guard(request)
        if isinstance(call, Response):
            return call
        call.body = await request.body()
        resp = await run_in_threadpool(run_handler, handler, call)
        resp.headers.update(_limit_header(call))
        return resp

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    endpoint.__doc__ = handler.__doc__
    return endpoint


def api_streaming(handler: AsyncHandler) -> Callable[[Request], Awaitable[Response]]:
    """Like :func:`api` for a handler that reads the request body itself (large uploads)."""

    async def endpoint(request: Request) -> Response:
        call = _guard(request)
        if isinstance(call, Response):
            return call
        try:
            resp = await handler(call)
        except OrgError as e:
            resp = org_error_response(e)
        resp.headers.update(_limit_header(call))
        return resp

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    endpoint.__doc__ = handler.__doc__
    return endpoint


def run_handler(handler: Handler, call: Call) -> Response:
    try:
        return handler(call)
    except OrgError as e:
        return org_error_response(e)
    except NotImplementedError as e:
        log.exception("emulator handler not implemented")
        return error_response(501, "UNKNOWN_EXCEPTION", f"Not implemented in the emulator yet: {e}")
    except Exception as e:  # the server must answer the Salesforce way, never a bare 500
        log.exception("emulator handler failed")
        return error_response(
            500, "UNKNOWN_EXCEPTION", f"An unexpected error occurred: {type(e).__name__}: {e}"
        )
