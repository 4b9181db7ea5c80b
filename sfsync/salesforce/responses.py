"""The one place that decides what a Salesforce answer means.

:func:`classify` turns any HTTP response (REST, OAuth token endpoint, Bulk API 2.0) into an :class:`Outcome`;
:func:`classify_transport_error` does the same for a failure to get a response at all. The transport acts on
the outcome's ``kind`` (return, retry, re-authenticate, stop) and turns failures into the exception tree of
``sfsync.errors`` through :meth:`Outcome.error`. Per-record results (collections, Bulk result rows) are read
here too, so that "which codes are worth retrying" lives in one module.

=====================================  ==================  =========================================
answer                                 kind                caller does
=====================================  ==================  =========================================
2xx                                    OK                  use the body
429, 5xx, SERVER_UNAVAILABLE,          TRANSIENT           retry with backoff, then TransientError
UNABLE_TO_LOCK_ROW, connection reset,
OAuth ``unknown_error``,
403 REQUEST_LIMIT_EXCEEDED for
concurrency
401 (INVALID_SESSION_ID)               SESSION_EXPIRED     re-authenticate once and repeat
OAuth ``{"error": ...}``,              AUTH                AuthError
API_DISABLED_FOR_ORG
403 REQUEST_LIMIT_EXCEEDED (daily)     LIMIT               LimitError, no further calls
400/404 INVALID_FIELD, INVALID_TYPE,   CONFIG              SalesforceConfigError
MALFORMED_QUERY, NOT_FOUND, ...;
TLS certificate not trusted
anything else (300, 405, 409, ...)     ERROR               SalesforceError
=====================================  ==================  =========================================
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from sfsync.errors import (
    AuthError,
    LimitError,
    SalesforceConfigError,
    SalesforceError,
    TransientError,
    UnreachableError,
)
from sfsync.salesforce.results import RecordError, RecordResult


class Kind(StrEnum):
    OK = "ok"
    TRANSIENT = "transient"
    SESSION_EXPIRED = "session_expired"
    AUTH = "auth"
    LIMIT = "limit"
    CONFIG = "config"
    ERROR = "error"


TRANSIENT_CODES = frozenset(
    {"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "UNKNOWN_EXCEPTION", "QUERY_TIMEOUT"}
)
CONFIG_CODES = frozenset(
    {
        "INVALID_FIELD",
        "INVALID_TYPE",
        "MALFORMED_QUERY",
        "NOT_FOUND",
        "JSON_PARSER_ERROR",
        "MALFORMED_ID",
        "INVALID_QUERY_FILTER_OPERATOR",
        "INVALID_OPERATION",
        "INVALIDENTITY",
        "INVALID_JOB",
        "INSUFFICIENT_ACCESS",
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "REQUIRED_FIELD_MISSING",
        "API_CURRENTLY_DISABLED",
        "FUNCTIONALITY_NOT_ENABLED",
    }
)
AUTH_CODES = frozenset({"API_DISABLED_FOR_ORG", "INVALID_LOGIN", "INVALID_AUTH_HEADER"})
#: OAuth ``error`` values of the token endpoint that mean "try again" rather than "wrong credentials".
TRANSIENT_OAUTH_ERRORS = frozenset({"unknown_error"})

_HINTS: dict[str, str] = {
    "INVALID_FIELD": "check the field's API name with `sfsync describe OBJECT`; sfsync never creates fields",
    "INVALID_TYPE": "check the object's API name and that the integration user can see it "
    "(`sfsync describe`)",
    "MALFORMED_QUERY": "fix the SOQL statement",
    "NOT_FOUND": "the object, record, job or API version does not exist in this org; check the name/id",
    "REQUEST_LIMIT_EXCEEDED": "the org's daily API quota is used up; wait for the rolling 24 h "
    "window to free calls or ask for a higher limit. sfsync makes no further calls with this client",
    "INSUFFICIENT_ACCESS": "give the integration user access to this object/field "
    "(profile or permission set)",
    "API_DISABLED_FOR_ORG": "the user's profile needs the 'API Enabled' permission (and an edition with API)",
    "invalid_grant": "check username, password and security token (append the token or allow the IP range), "
    "that the user is active and pre-authorized for the connected app, and the login_url "
    "(sandboxes use https://test.salesforce.com)",
    "invalid_client_id": "check client_id: it must be the connected app's consumer key",
    "invalid_client": "check client_id and client_secret of the connected app (and that the flow is enabled)",
    "unsupported_grant_type": "enable this OAuth flow on the connected app",
    "inactive_user": "the Salesforce user is deactivated; reactivate it or use another integration user",
}

_KIND_HINTS: dict[Kind, str] = {
    Kind.TRANSIENT: "Salesforce or the network failed temporarily; run again later (retries were exhausted)",
    Kind.SESSION_EXPIRED: "log in again; check that the session was not revoked",
    Kind.AUTH: "check the destination's auth settings (flow, client id/secret, user, key)",
    Kind.CONFIG: "the org refused the request as written: check object and field names (`sfsync describe`)",
    Kind.ERROR: "read the message above; if the request looks right, report it with the job or record id",
}

TLS_CERTIFICATE_UNTRUSTED = "TLS_CERTIFICATE_UNTRUSTED"
"""The code of a call whose server certificate was refused (a configuration problem, not transient)."""

CONNECTION_ERROR = "CONNECTION_ERROR"
"""The code of a call that got no answer at all (connection refused, DNS, timeout): an UnreachableError."""

_RE_USAGE = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class Outcome:
    """What one answer means. ``retry_after`` is the server's Retry-After in seconds, when it sent one.

    ``ambiguous`` marks a failure after the request may have reached Salesforce (a read timeout or a reset
    after sending): repeating a non-idempotent call (a create) could then write twice.
    """

    kind: Kind
    status: int | None = None
    code: str | None = None
    message: str = ""
    fields: tuple[str, ...] = ()
    retry_after: float | None = None
    ambiguous: bool = False

    @property
    def ok(self) -> bool:
        return self.kind is Kind.OK

    def error(
        self, *, what: str = "", object: str | None = None, job_id: str | None = None
    ) -> SalesforceError:
        """The exception that reports this outcome; ``what`` says which call it was (``GET sobjects``)."""
        head = f"{what}: " if what else ""
        code = f"{self.code}: " if self.code else ""
        status = f" (HTTP {self.status})" if self.status else ""
        message = f"{head}Salesforce answered {code}{self.message}{status}".rstrip()
        hint = _HINTS.get(self.code or "")
        cls: type[SalesforceError] = {
            Kind.TRANSIENT: TransientError,
            Kind.SESSION_EXPIRED: AuthError,
            Kind.AUTH: AuthError,
            Kind.LIMIT: LimitError,
            Kind.CONFIG: SalesforceConfigError,
        }.get(self.kind, SalesforceError)
        if self.kind is Kind.TRANSIENT and self.code == CONNECTION_ERROR:
            cls = UnreachableError
        if hint is None:
            hint = _KIND_HINTS.get(self.kind)
        return cls(message, status=self.status, code=self.code, hint=hint, object=object, job_id=job_id)


def _body_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_details(response: httpx.Response) -> tuple[str | None, str, tuple[str, ...]]:
    """(errorCode, message, fields) from any Salesforce error body: REST array, OAuth object or text."""
    body = _body_json(response)
    if isinstance(body, list) and body and isinstance(body[0], Mapping):
        first = body[0]
        fields = first.get("fields") or ()
        code = first.get("errorCode") or first.get("statusCode")
        return code, str(first.get("message", "")), tuple(str(f) for f in fields)
    if isinstance(body, list) and body and response.status_code == 300:
        return (
            "MULTIPLE_CHOICES",
            f"the external id matched several records: {', '.join(map(str, body[:5]))}",
            (),
        )
    if isinstance(body, Mapping):
        if "error" in body:
            return str(body["error"]), str(body.get("error_description", "")), ()
        if "errorCode" in body:
            return str(body["errorCode"]), str(body.get("message", "")), ()
    text = response.text.strip().replace("\n", " ") if response.content else ""
    return None, (text[:300] or response.reason_phrase or "no details"), ()


def classify(response: httpx.Response) -> Outcome:
    """Decide what ``response`` (already read) means. Never raises; see the module table."""
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(Kind.OK, status=status)
    code, message, fields = error_details(response)
    retry_after = _retry_after(response)

    def out(kind: Kind) -> Outcome:
        return Outcome(
            kind, status=status, code=code, message=message, fields=fields, retry_after=retry_after
        )

    body = _body_json(response)
    if isinstance(body, Mapping) and "error" in body and "errorCode" not in body:
        # OAuth token endpoint: ``unknown_error`` ("retry your request") and 5xx answers pass; other
        # clients retry them too (salto-io/salto PR #2834; amazon-connect-salesforce-lambda issue #43)
        if code in TRANSIENT_OAUTH_ERRORS or status >= 500:
            return out(Kind.TRANSIENT)
        # wrong credentials, unknown client, disabled flow, revoked refresh token, ...
        return out(Kind.AUTH)
    if code == "REQUEST_LIMIT_EXCEEDED":
        # Concurrency limits go away in seconds; the daily quota does not.
        return out(Kind.TRANSIENT if "concurrent" in message.lower() else Kind.LIMIT)
    if status == 401:
        return out(Kind.SESSION_EXPIRED)
    if code in TRANSIENT_CODES or status == 429 or status >= 500:
        return out(Kind.TRANSIENT)
    if code in AUTH_CODES:
        return out(Kind.AUTH)
    if code in CONFIG_CODES or status in (400, 404):
        return out(Kind.CONFIG)
    if status == 403:
        return out(Kind.CONFIG)
    return out(Kind.ERROR)


def _cert_error(exc: BaseException) -> str | None:
    """Why the server's certificate was refused (OpenSSL's verify message), or None if it was not."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "certificate verify failed")
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return str(seen).split("CERTIFICATE_VERIFY_FAILED]", 1)[-1].strip(" :()") or "verify failed"
        seen = seen.__cause__ or seen.__context__
    return None


def _cert_advice(reason: str) -> str:
    """What to do about a refused certificate, by the reason OpenSSL gave."""
    text = reason.lower()
    if "expired" in text or "not yet valid" in text:
        return (
            "the server's certificate is out of date: check the server's certificate and this machine's clock"
        )
    if "hostname" in text or "ip address mismatch" in text:
        return "the certificate belongs to another host name: check login_url / instance_url"
    if "self-signed" in text or "self signed" in text or "local issuer" in text or "unknown ca" in text:
        return (
            "the certificate's issuer is not trusted here: set ca_bundle to the CA's PEM file (the local "
            "emulator prints its path; behind a TLS-inspecting proxy, the proxy's CA)"
        )
    return "set ca_bundle to the PEM file of the CA that issued the server's certificate"


def classify_transport_error(exc: httpx.TransportError) -> Outcome:
    """A call that got no answer: connection refused/reset, timeout, TLS failure."""
    reason = _cert_error(exc)
    if reason is not None:
        return Outcome(
            Kind.CONFIG,
            code=TLS_CERTIFICATE_UNTRUSTED,
            message=f"the server's TLS certificate was refused ({reason}); {_cert_advice(reason)}",
        )
    # Before the request left (connect, pool) nothing reached Salesforce; after it, we cannot know.
    sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    name = type(exc).__name__
    detail = str(exc) or "no details"
    return Outcome(Kind.TRANSIENT, code=CONNECTION_ERROR, message=f"{name}: {detail}", ambiguous=sent)


def parse_api_usage(headers: Mapping[str, str]) -> tuple[int, int] | None:
    """(used, max) from ``Sforce-Limit-Info: api-usage=USED/MAX``, or None when absent."""
    value = headers.get("Sforce-Limit-Info") or headers.get("sforce-limit-info")
    if not value:
        return None
    match = _RE_USAGE.search(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def record_result(index: int, item: Mapping[str, Any], *, attempts: int = 1) -> RecordResult:
    """One entry of an sObject Collections answer, for the caller's record ``index``."""
    errors = tuple(
        RecordError(
            status_code=str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN"),
            message=str(e.get("message", "")),
            fields=tuple(str(f) for f in (e.get("fields") or ())),
        )
        for e in (item.get("errors") or ())
        if isinstance(e, Mapping)
    )
    created = item.get("created")
    success = bool(item.get("success"))
    return RecordResult(
        index=index,
        id=item.get("id"),
        success=success,
        created=bool(created) if created is not None else None,
        errors=errors,
        attempts=attempts,
    )


def collection_results(
    response_items: Any, indexes: Sequence[int], *, attempts: int = 1
) -> list[RecordResult]:
    """The per-record answer of a collections call, one :class:`RecordResult` per sent record, in order."""
    if not isinstance(response_items, list) or len(response_items) != len(indexes):
        got = len(response_items) if isinstance(response_items, list) else type(response_items).__name__
        raise SalesforceError(
            f"sObject Collections answered {got} results for {len(indexes)} records",
            hint="this is a Salesforce-side anomaly; run again, and report it if it persists",
        )
    return [
        record_result(i, item, attempts=attempts) for i, item in zip(indexes, response_items, strict=True)
    ]


_RE_BULK_FIELDS = re.compile(r":([A-Za-z][\w.]*(?:,[A-Za-z][\w.]*)*)$")
#: How real orgs end the ``sf__Error`` cell: ``:Field --`` (``:A,B --``), or ``:--`` when no field is named.
#: Recorded on real orgs: jsforce test/bulk2.test.ts (``…: [Name]:Name --``), salesforcecli plugin-data
#: NUTs (``INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--``), Census's error catalogue
#: (``DUPLICATES_DETECTED:Use one of these records?:--``).
_BULK_END = " --"
_BULK_NO_FIELDS = ":--"


def parse_bulk_error(cell: str) -> RecordError:
    """The ``sf__Error`` cell of Bulk failedResults as a clean message and the fields it names.

    Real orgs write ``CODE:message:Field --`` or ``CODE:message:--``. Cells without the trailing ``--``
    (older writers) are read as ``CODE:message[:fields]``: Salesforce messages put a space after their
    own colons (``Email: invalid email address: foo``), the fields follow a bare colon.
    """
    code, sep, rest = cell.partition(":")
    if not sep or not code or not code.replace("_", "").isalnum() or code.upper() != code:
        return RecordError("UNKNOWN", cell)
    if rest.endswith(_BULK_NO_FIELDS):
        return RecordError(code, rest[: -len(_BULK_NO_FIELDS)])
    if rest.endswith(_BULK_END):
        message, colon, fields = rest[: -len(_BULK_END)].rpartition(":")
        names = tuple(f.strip() for f in fields.split(",") if f.strip())
        if colon and names:
            return RecordError(code, message, names)
        return RecordError(code, rest[: -len(_BULK_END)])
    match = _RE_BULK_FIELDS.search(rest)
    if match is None or match.start() == 0:
        return RecordError(code, rest)
    return RecordError(code, rest[: match.start()], tuple(match.group(1).split(",")))


__all__ = [
    "Kind",
    "Outcome",
    "classify",
    "classify_transport_error",
    "collection_results",
    "error_details",
    "parse_api_usage",
    "parse_bulk_error",
    "record_result",
]
