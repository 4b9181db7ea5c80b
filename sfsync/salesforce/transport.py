"""HTTP to one org: the httpx client, sessions, retries with backoff, API usage tracking and call counts.

Every call of the package goes through :meth:`Transport.request` (or :meth:`Transport.stream`). It
authenticates lazily, classifies every answer with :func:`~sfsync.salesforce.responses.classify`, retries
transient failures with exponential backoff and jitter, re-authenticates once on an expired session,
remembers an exhausted quota (no further call is made once Salesforce said 403 REQUEST_LIMIT_EXCEEDED) and
refuses new work once the org's usage passes ``stop_at_api_usage_percent``. Thread-safe: the sync engine,
the scheduler and the web UI call it from many threads.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sfsync.errors import AuthError, LimitError, SalesforceError
from sfsync.salesforce.auth import Authenticator, Session
from sfsync.salesforce.responses import Kind, Outcome, classify, classify_transport_error, parse_api_usage
from sfsync.salesforce.retry import Backoff
from sfsync.salesforce.settings import ConnectionSettings
from sfsync.salesforce.tokens import RefreshTokenStore

log = logging.getLogger("sfsync.salesforce")

USER_AGENT = "sfsync/0.1"
REVOKED_REFRESH_TOKEN_HINT = (
    "the refresh token was revoked or expired (a user or admin revoked the app's access, the token sat "
    "unused past the app's policy, or a rotated-out token was used again, which revokes the whole "
    "chain): authorize the connected app again, put the new refresh token in the destination's "
    "refresh_token (its environment variable), and run again; sfsync then forgets the stored one"
)
CONCURRENT_REFRESH_HINT = (
    "another program refreshed the same refresh token at the same moment (Salesforce allows one refresh "
    "per token at a time; sfsync processes on this machine wait for each other): give sfsync its own "
    "refresh token, or its own connected app"
)


@dataclass(frozen=True)
class ApiUsage:
    """The org's daily API usage as Salesforce last reported it (``Sforce-Limit-Info``)."""

    used: int
    max: int

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.max if self.max else 0.0


@dataclass(frozen=True)
class ClientStats:
    """What this client did. ``calls`` counts HTTP requests sent (retries included)."""

    calls: int = 0
    retries: int = 0
    reauthentications: int = 0
    record_retries: int = 0


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = {"calls": 0, "retries": 0, "reauthentications": 0, "record_retries": 0}

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] += n

    def snapshot(self) -> ClientStats:
        with self._lock:
            return ClientStats(**self._values)


def _verify(settings: ConnectionSettings) -> ssl.SSLContext | bool:
    """The system's trusted CAs, plus those of ``ca_bundle`` when set (the local emulator's CA, a
    corporate proxy's): a bundle adds trust, it never removes the public CAs real orgs use."""
    if settings.ca_bundle is None:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(settings.ca_bundle))
    return context


class _Borrowed(httpx.BaseTransport):
    """An injected transport belongs to the caller: closing the client must not close it."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        pass


UPLOAD_CHUNK_BYTES = 1024 * 1024  # read size when streaming a file body


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(UPLOAD_CHUNK_BYTES):
            yield chunk


def _path_only(url: str) -> str:
    return url.split("?", 1)[0]


class Transport:
    """Authenticated, retrying HTTP to one org."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        token_store: RefreshTokenStore | None = None,
    ) -> None:
        self.settings = settings
        self.authenticator = Authenticator(settings)
        self._tokens = token_store
        self._refresh_token: str | None = None  # the newest one an answer carried (refresh_token flow)
        self.backoff = Backoff.from_settings(settings)
        self.counters = _Counters()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._session: Session | None = None
        self._session_lock = threading.Lock()
        self._usage: ApiUsage | None = None
        self._usage_lock = threading.Lock()
        self._exhausted: Outcome | None = None
        self._exhausted_at = 0.0
        timeout = httpx.Timeout(
            connect=settings.connect_timeout_seconds,
            read=settings.read_timeout_seconds,
            write=settings.write_timeout_seconds,
            pool=settings.pool_timeout_seconds,
        )
        limits = httpx.Limits(
            max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections
        )
        self.http = httpx.Client(
            timeout=timeout,
            limits=limits,
            verify=_verify(settings),
            transport=_Borrowed(transport) if transport is not None else None,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        where = self._session.instance_url if self._session else self.settings.login_url
        return f"Transport(url={where!r}, flow={self.settings.flow!r})"

    # ---- state ------------------------------------------------------------------------------------
    @property
    def api_usage(self) -> ApiUsage | None:
        with self._usage_lock:
            return self._usage

    @property
    def quota_exhausted(self) -> bool:
        return self._still_exhausted()

    def _still_exhausted(self) -> bool:
        """True while a REQUEST_LIMIT_EXCEEDED answer is recent; after ``quota_recheck_seconds`` the
        client tries again (quotas roll over, so a long-lived scheduler or web UI must not stay stuck)."""
        if self._exhausted is None:
            return False
        if time.monotonic() - self._exhausted_at >= self.settings.quota_recheck_seconds:
            self._exhausted = None
            return False
        return True

    def close(self) -> None:
        self.http.close()

    def backoff_delay(self, retry: int, retry_after: float | None = None) -> float:
        """The wait before retry number ``retry`` (1-based), jittered with this client's random source."""
        return self.backoff.delay(retry, rng=self._rng, retry_after=retry_after)

    def sleep(self, seconds: float) -> None:
        """Wait (backoff, polling); tests may inject a sleep that does not wait."""
        self._sleep(seconds)

    # ---- sessions ---------------------------------------------------------------------------------
    def session(self) -> Session:
        """The current session, logging in first when there is none."""
        with self._session_lock:
            if self._session is None:
                self._session = self._login()
            return self._session

    def _reauthenticate(self, stale: Session) -> Session:
        with self._session_lock:
            if self._session is not None and self._session is not stale:
                return self._session  # another thread already logged in again
            self._session = self._login()
            self.counters.add("reauthentications")
            log.info("re-authenticated with the %s flow after an expired session", self.settings.flow)
            return self._session

    def _login(self) -> Session:
        auth = self.authenticator
        if not auth.can_refresh:
            return auth.static_session()
        if self.settings.flow != "refresh_token":
            return auth.session_from(self._token_call(None))
        # the refresh-token flow: always the newest token (rotation), one refresh at a time per token
        origin = self.settings.refresh_token.get_secret_value() if self.settings.refresh_token else ""
        if self._tokens is None:
            return self._refresh(origin, self._refresh_token or origin, None)
        with self._tokens.locked():
            return self._refresh(origin, self._tokens.load(origin) or origin, self._tokens)

    def _refresh(self, origin: str, current: str, store: RefreshTokenStore | None) -> Session:
        try:
            body = self._token_call(current)
        except AuthError as exc:
            if exc.code == "invalid_grant":
                busy = "already being processed" in exc.message
                exc.hint = CONCURRENT_REFRESH_HINT if busy else REVOKED_REFRESH_TOKEN_HINT
            raise
        session = self.authenticator.session_from(body)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != current:
            self._refresh_token = rotated
            if store is not None:
                store.save(origin, rotated)
            log.info("the refresh answer carried a new refresh token (rotation): stored it")
        return session

    def _token_call(self, refresh_token: str | None) -> dict[str, Any]:
        """One token request (with the transport's retries); the answer's JSON body."""
        auth = self.authenticator
        what = f"log in ({self.settings.flow} flow) at {auth.token_url}"

        def build(_: Session | None) -> httpx.Request:
            req = auth.token_request(refresh_token=refresh_token)
            return self.http.build_request(
                "POST", req.url, data=dict(req.form), headers={"Accept": "application/json"}
            )

        # A refresh that may have reached Salesforce is never sent again: with rotation, it may have
        # used up the token, and presenting a used-up token revokes the whole chain.
        repeatable = self.settings.flow != "refresh_token"
        response = self._send(build, what=what, idempotent=repeatable, new_work=False, authed=False)
        body = response.json()
        return body if isinstance(body, dict) else {}

    # ---- calls ------------------------------------------------------------------------------------
    def url(self, path: str, session: Session) -> str:
        """Absolute URL: full URLs pass; ``/services/...`` and ``services/...`` are root-relative; anything
        else is relative to the REST API of the configured version (``sobjects/Account``)."""
        if path.startswith(("https://", "http://")):
            return path
        if path.startswith("/"):
            return session.instance_url + path
        if path.startswith("services/"):
            return f"{session.instance_url}/{path}"
        return f"{session.instance_url}{self.settings.data_path}/{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | Path | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        new_work: bool = True,
        what: str | None = None,
        object: str | None = None,
        job_id: str | None = None,
    ) -> httpx.Response:
        """Send one API call and return its successful (2xx) answer, already read; raise otherwise.

        ``content`` may be a file path: it is streamed from disk (with its Content-Length).

        ``idempotent`` (default: every method but POST) allows repeating the call after a failure that may
        have reached Salesforce. ``new_work=False`` marks calls that finish work already started (polls,
        results, aborts): they are not refused by ``stop_at_api_usage_percent``.
        """
        build = self._builder(method, path, params, json, content, headers)
        return self._send(
            build,
            what=what or f"{method} {_path_only(path)}",
            idempotent=(method.upper() != "POST") if idempotent is None else idempotent,
            new_work=new_work,
            object=object,
            job_id=job_id,
        )

    @contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        new_work: bool = False,
        what: str | None = None,
        object: str | None = None,
        job_id: str | None = None,
    ) -> Iterator[httpx.Response]:
        """Like :meth:`request` but the successful body is not read: iterate ``response.iter_bytes()``."""
        build = self._builder(method, path, params, None, None, headers)
        response = self._send(
            build,
            what=what or f"{method} {_path_only(path)}",
            idempotent=True,
            new_work=new_work,
            object=object,
            job_id=job_id,
            stream=True,
        )
        try:
            yield response
        finally:
            response.close()

    def _builder(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        content: bytes | Path | None,
        headers: Mapping[str, str] | None,
    ) -> Callable[[Session | None], httpx.Request]:
        def build(session: Session | None) -> httpx.Request:
            assert session is not None
            hdrs = {"Accept": "application/json", "Authorization": session.authorization()}
            if headers:
                hdrs.update(headers)
            body: bytes | Iterator[bytes] | None
            if isinstance(content, Path):  # streamed from disk, reopened for each attempt
                hdrs["Content-Length"] = str(content.stat().st_size)
                body = _file_chunks(content)
            else:
                body = content
            return self.http.build_request(
                method, self.url(path, session), params=params, json=json, content=body, headers=hdrs
            )

        return build

    def _guard(self, new_work: bool, what: str) -> None:
        exhausted = self._exhausted
        if exhausted is not None and self._still_exhausted():
            raise exhausted.error(what=f"{what} not sent: the daily API quota was already exhausted")
        limit = self.settings.stop_at_api_usage_percent
        usage = self.api_usage
        if new_work and limit is not None and usage is not None and usage.percent >= limit:
            raise LimitError(
                f"{what} not sent: the org has used {usage.used} of {usage.max} daily API calls "
                f"({usage.percent:.1f}%), past stop_at_api_usage_percent={limit:g}",
                code="API_USAGE_THRESHOLD",
                hint="wait for the rolling 24 h quota to free up, or raise stop_at_api_usage_percent",
            )

    def _note(self, response: httpx.Response) -> None:
        usage = parse_api_usage(response.headers)
        if usage is not None:
            with self._usage_lock:
                self._usage = ApiUsage(*usage)

    def _send(
        self,
        build: Callable[[Session | None], httpx.Request],
        *,
        what: str,
        idempotent: bool,
        new_work: bool,
        authed: bool = True,
        object: str | None = None,
        job_id: str | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send until Salesforce answers 2xx: log in again once on an expired session, retry transient
        failures with backoff (only when repeating cannot write twice), else raise the classified error."""
        retries = 0
        relogged = False
        first = True
        while True:
            self._guard(new_work and first, what)
            first = False
            session = self.session() if authed else None
            response, outcome = self._attempt(build(session), stream)
            if outcome.ok and response is not None:
                return response
            if response is not None and stream:
                response.close()
            if outcome.kind is Kind.SESSION_EXPIRED and session is not None:
                self._refuse_reauthentication(outcome, what, relogged, retries, object, job_id)
                if relogged:
                    # refused a session issued moments ago: with very short sessions and slow retries
                    # (503s) the new session can run out before it is used; back off and log in again,
                    # like any transient failure, until the retries are used up
                    retries += 1
                    self._wait_before_retry(outcome, what, retries)
                relogged = True
                self._reauthenticate(session)
                continue
            if outcome.kind is Kind.LIMIT:
                raise self._quota_exhausted(outcome, what, object, job_id)
            may_repeat = idempotent or not outcome.ambiguous
            if outcome.kind is Kind.TRANSIENT and may_repeat and retries < self.settings.max_retries:
                retries += 1
                self._wait_before_retry(outcome, what, retries)
                continue
            error = outcome.error(what=what, object=object, job_id=job_id)
            if outcome.kind is Kind.TRANSIENT:
                error = _after_retries(error, retries, may_repeat)
            raise error

    def _attempt(self, request: httpx.Request, stream: bool) -> tuple[httpx.Response | None, Outcome]:
        """Send the request once; the response (None if it never came) and what it means."""
        response: httpx.Response | None = None
        try:
            self.counters.add("calls")
            response = self.http.send(request, stream=stream)
        except httpx.TransportError as exc:
            outcome = classify_transport_error(exc)
        else:
            self._note(response)
            if stream and not response.is_success:
                response.read()
                response.close()
            outcome = classify(response)
        log.debug(
            "%s %s -> %s",
            request.method,
            _path_only(str(request.url)),
            response.status_code if response is not None else outcome.code,
        )
        return response, outcome

    def _refuse_reauthentication(
        self,
        outcome: Outcome,
        what: str,
        relogged: bool,
        retries: int,
        object: str | None,
        job_id: str | None,
    ) -> None:
        """Raise :class:`AuthError` when an expired session cannot be renewed: the flow cannot log in
        again, or this call already logged in again (``relogged``) and has no retry left (``retries``
        spent of ``max_retries``) for Salesforce refusing the session it had just issued."""
        if not self.authenticator.can_refresh:
            raise AuthError(
                f"{what}: the session is expired or invalid ({outcome.code or 'HTTP 401'}), and the "
                "access_token flow cannot log in again",
                status=outcome.status,
                code=outcome.code,
                hint="supply a fresh access_token, or use the password, jwt, client_credentials or "
                "refresh_token flow so sfsync can renew sessions",
                object=object,
                job_id=job_id,
            )
        if relogged and retries >= self.settings.max_retries:
            raise AuthError(
                f"{what}: Salesforce refused a session it had just issued ({outcome.code or 'HTTP 401'}), "
                f"after {retries} retries",
                status=outcome.status,
                code=outcome.code,
                hint="check that the integration user may use the API and that instance_url is right",
                object=object,
                job_id=job_id,
            )

    def _quota_exhausted(
        self, outcome: Outcome, what: str, object: str | None, job_id: str | None
    ) -> SalesforceError:
        """Remember that the daily quota is spent (no call for ``quota_recheck_seconds``); the error."""
        self._exhausted = outcome
        self._exhausted_at = time.monotonic()
        log.error(
            "%s: daily API quota exhausted; this client makes no call for %.0fs",
            what,
            self.settings.quota_recheck_seconds,
        )
        return outcome.error(what=what, object=object, job_id=job_id)

    def _wait_before_retry(self, outcome: Outcome, what: str, retry: int) -> None:
        """Count and log retry number ``retry`` of a transient failure, then wait its backoff."""
        self.counters.add("retries")
        wait = self.backoff_delay(retry, outcome.retry_after)
        log.warning(
            "%s failed with %s; retry %d of %d in %.2fs",
            what,
            outcome.code or outcome.status,
            retry,
            self.settings.max_retries,
            wait,
        )
        self._sleep(wait)


def _after_retries(error: SalesforceError, retries: int, may_repeat: bool) -> SalesforceError:
    if not may_repeat:
        error.message += (
            " (not repeated: the request may have reached Salesforce, and repeating it could write twice)"
        )
    elif retries:
        error.message += f" (after {retries} retries)"
    return error


__all__ = ["USER_AGENT", "ApiUsage", "ClientStats", "Transport"]
