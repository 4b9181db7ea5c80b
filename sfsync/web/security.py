"""Who may use the UI: signed session cookies, the token login, and CSRF protection for forms.

- Sessions live in a signed cookie (HMAC-SHA256 with a key made at start-up, so a restart logs everyone
  out). With a token configured a session is only "logged in" after ``POST /login`` with that token;
  API clients send ``Authorization: Bearer <token>`` instead and need no cookie.
- Without a token (loopback only, see ``settings.check_bind``) every visitor's session is logged in at once;
  with one, a visitor first gets an anonymous session (it carries the login form's CSRF token).
- Without a token, requests must name 127.0.0.1 or localhost as their Host, so a web page whose domain
  is re-pointed at 127.0.0.1 (DNS rebinding) cannot use the UI from the visitor's browser.
- Failed logins (a wrong token in the login form or in ``Authorization: Bearer``) are counted per client
  address (:class:`LoginThrottle`): after ``login_attempts`` failures the address is refused with 429 and
  ``Retry-After`` for ``login_lockout_seconds``, doubling while failures go on; a success clears it.
- CSRF: a state-changing request passes when it carries the bearer token, the session's CSRF token
  (form field ``csrf_token`` or header ``X-CSRF-Token``), or a JSON body (``Content-Type:
  application/json``, which a browser only sends cross-site after a CORS preflight this server never
  grants). Everything else is refused with 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp

from sfsync.web.settings import UiSettings

COOKIE = "sfsync_ui_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PUBLIC_PREFIXES = ("/static/", "/login")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
"""Host names a token-less (loopback) UI answers to: others are refused, which stops DNS rebinding."""
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Session:
    sid: str
    expires: int
    logged_in: bool


class Signer:
    """Signs session cookies and derives each session's CSRF token."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)
        self._revoked: set[str] = set()  # sessions logged out before they expire (this process only)

    def _mac(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def dump(self, session: Session) -> str:
        payload = f"{session.sid}.{session.expires}.{int(session.logged_in)}"
        return f"{payload}.{self._mac(payload)}"

    def load(self, value: str | None) -> Session | None:
        if not value or value.count(".") != 3:
            return None
        payload, _, mac = value.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        sid, expires, flag = payload.split(".")
        if not expires.isdigit() or int(expires) < time.time() or sid in self._revoked:
            return None
        return Session(sid, int(expires), flag == "1")

    def revoke(self, session: Session) -> None:
        """Log a session out: its cookie is refused from now on, even if a copy was kept."""
        self._revoked.add(session.sid)

    def csrf(self, session: Session) -> str:
        return self._mac("csrf:" + session.sid)


class LoginThrottle:
    """Counts failed logins per client address and locks an address out after too many (thread-safe)."""

    def __init__(self, attempts: int, lockout_seconds: float) -> None:
        self.attempts = attempts
        self.lockout_seconds = lockout_seconds
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds ``client`` must wait before trying again (0 when it may try now)."""
        with self._lock:
            return max(0.0, self._locked_until.get(client, 0.0) - time.monotonic())

    def failed(self, client: str) -> None:
        with self._lock:
            count = self._failures.get(client, 0) + 1
            self._failures[client] = count
            if count >= self.attempts:
                doublings = min(count - self.attempts, 10)
                self._locked_until[client] = time.monotonic() + self.lockout_seconds * 2**doublings

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
            self._locked_until.pop(client, None)


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def too_many_logins(seconds: float) -> JSONResponse:
    return JSONResponse(
        {"detail": f"too many failed logins from this address: try again in {seconds:.0f} s"},
        status_code=429,
        headers={"Retry-After": str(max(1, round(seconds)))},
    )


def token_matches(given: str | None, token: str | None) -> bool:
    return bool(given and token) and hmac.compare_digest(str(given).encode(), str(token).encode())


def new_session(settings: UiSettings, logged_in: bool) -> Session:
    return Session(secrets.token_urlsafe(18), int(time.time()) + settings.session_seconds, logged_in)


def set_cookie(response: Response, signer: Signer, session: Session, settings: UiSettings) -> None:
    response.set_cookie(
        COOKIE,
        signer.dump(session),
        max_age=settings.session_seconds,
        httponly=True,
        samesite="lax",
        path="/",
    )


class AuthMiddleware(BaseHTTPMiddleware):
    """Lets a request through when it is authenticated; otherwise 401 (API) or a redirect to /login."""

    def __init__(self, app: ASGIApp, settings: UiSettings, signer: Signer, throttle: LoginThrottle) -> None:
        super().__init__(app)
        self.settings = settings
        self.signer = signer
        self.throttle = throttle

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        s = self.settings
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]").lower()
        if not s.auth_required and host not in LOCAL_HOSTS:
            return JSONResponse(
                {
                    "detail": f"without a login token this UI answers only to 127.0.0.1 and localhost, "
                    f"not {host!r}"
                },
                status_code=421,
            )
        session = self.signer.load(request.cookies.get(COOKIE))
        auth = request.headers.get("authorization", "")
        via_bearer = False
        if s.auth_required and auth.startswith("Bearer "):
            client = client_address(request)
            wait = self.throttle.retry_after(client)
            if wait > 0:
                return too_many_logins(wait)
            via_bearer = token_matches(auth[7:], s.token)
            if via_bearer:
                self.throttle.succeeded(client)
            else:
                self.throttle.failed(client)
        fresh: Session | None = None
        if session is None and not via_bearer:
            session = fresh = new_session(s, logged_in=not s.auth_required)
        request.state.session = session
        request.state.via_bearer = via_bearer
        request.state.csrf = self.signer.csrf(session) if session is not None else ""
        path = request.url.path
        public = any(path.startswith(p) for p in PUBLIC_PREFIXES)
        authed = via_bearer or (session is not None and (session.logged_in or not s.auth_required))
        if not public and not authed:
            if path.startswith("/api/") or path in ("/openapi.json", "/metrics") or request.method != "GET":
                return JSONResponse(  # no cookie: API clients use the bearer token
                    {"detail": "not authenticated: log in, or send Authorization: Bearer <SFSYNC_UI_TOKEN>"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            response: Response = RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        else:
            response = await call_next(request)
        if fresh is not None:
            set_cookie(response, self.signer, fresh, s)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


async def csrf_guard(request: Request) -> None:
    """FastAPI dependency on every state-changing route (see the module docstring for the rule)."""
    if request.method not in _UNSAFE or getattr(request.state, "via_bearer", False):
        return
    expected = getattr(request.state, "csrf", "")
    given = request.headers.get(CSRF_HEADER)
    ctype = request.headers.get("content-type", "")
    if given is None and ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if expected and token_matches(given, expected):
        return
    if given is None and ctype.startswith("application/json"):
        return
    raise HTTPException(
        status_code=403,
        detail="CSRF check failed: reload the page and submit the form again "
        "(API clients: send Authorization: Bearer <token> or a JSON body)",
    )


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "AuthMiddleware",
    "LoginThrottle",
    "Session",
    "Signer",
    "csrf_guard",
    "new_session",
    "safe_next",
    "set_cookie",
    "token_matches",
]
