"""Answers recorded from real orgs, replayed through sfsync's client (no emulator: these are the bytes a
real org sends, so they check the client against Salesforce itself rather than against our own emulator).

Sources of the recorded answers (each test names the one it uses):

- token answers: the field set of Salesforce's documented token response (Salesforce Help, "OAuth 2.0
  Refresh Token Flow for Renewed Sessions"; jsforce's ``TokenResponse`` type, whose ``refresh_token`` is
  present when the app rotates tokens); ids and tokens below are placeholders in Salesforce's formats;
- ``{"error": "unknown_error", "error_description": "retry your request"}``: logged from the real token
  endpoint in amazon-connect/amazon-connect-salesforce-lambda issue #43 and retried by salto-io/salto PR
  #2834;
- ``{"error": "invalid_grant", "error_description": "token request is already being processed"}``:
  segmentio/action-destinations PR #2300 (confirmed by a load test against Salesforce's token endpoint);
- ``{"error": "invalid_grant", "error_description": "authentication failure"}`` and
  ``"expired access/refresh token"``: the token endpoint's documented errors (Salesforce Help, "OAuth 2.0
  Username-Password Flow" / refresh flow), seen verbatim in simple-salesforce's and jsforce's issue threads;
- Bulk ``sf__Error`` cells: jsforce test/bulk2.test.ts and salesforcecli plugin-data's bulk NUTs (run
  against real orgs), Census's Salesforce error catalogue.
"""

from __future__ import annotations

import json
import logging
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from sfsync.errors import AuthError
from sfsync.salesforce import ConnectionSettings, SalesforceClient, SaveOptions
from sfsync.salesforce.responses import parse_bulk_error
from sfsync.state import TokenFile
from tests.salesforce.conftest import FAST

LOGIN = "https://login.salesforce.com"
INSTANCE = "https://acme.my.salesforce.com"
ORG, USER = "00D5g000004ABCDEAA", "0055g00000XYZ12AAA"
R0 = "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJrbYXkN2.XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX0"


def token_answer(n: int, refresh_token: str | None) -> dict[str, Any]:
    """A token answer in the documented shape; ``refresh_token`` only when the app rotates."""
    body: dict[str, Any] = {
        "access_token": f"00D5g000004ABCD!AQ4AQ.access.{n}",
        "signature": "d/SxeYBxH0GSVko0HMgcUxuZy0PA2cDDz1u7g7JtDHw=",
        "scope": "refresh_token api",
        "instance_url": INSTANCE,
        "id": f"{LOGIN}/id/{ORG}/{USER}",
        "token_type": "Bearer",
        "issued_at": "1699999999999",
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return body


class Replay:
    """An httpx transport that answers with recorded responses, in order, and keeps every request."""

    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.answers, f"no recorded answer left for {request.method} {request.url}"
        status, body = self.answers.pop(0)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"Content-Type": "application/json"})

    def forms(self) -> list[dict[str, str]]:
        """The token requests' forms, in order."""
        out = []
        for r in self.requests:
            if r.url.path.endswith("/services/oauth2/token"):
                out.append({k: v[0] for k, v in parse_qs(r.content.decode()).items()})
        return out


def client(replay: Replay, *, store: TokenFile | None = None, **changes: Any) -> SalesforceClient:
    values: dict[str, Any] = {
        "login_url": LOGIN,
        "flow": "refresh_token",
        "client_id": "3MVG9-connected-app",
        "refresh_token": R0,
        **FAST,
        **changes,
    }
    return SalesforceClient(ConnectionSettings(**values), transport=replay.transport, token_store=store)


SESSION_EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
LIMITS = {"DailyApiRequests": {"Max": 15000, "Remaining": 14999}}


def test_rotation_over_several_refreshes_and_runs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = TokenFile(tmp_path / ".sfsync", "org")
    run1 = Replay(
        [
            (200, token_answer(1, "5Aep-R1")),  # first login: R0 -> R1
            (401, SESSION_EXPIRED),  # the session expires mid-run
            (200, token_answer(2, "5Aep-R2")),  # re-login with the newest token: R1 -> R2
            (200, LIMITS),
        ]
    )
    with client(run1, store=store) as sf:
        assert sf.limits() == LIMITS
        assert "5Aep" not in repr(sf) and "5Aep" not in repr(sf.transport)
    assert [f["refresh_token"] for f in run1.forms()] == [R0, "5Aep-R1"]
    run2 = Replay([(200, token_answer(3, "5Aep-R3")), (200, LIMITS)])
    with client(run2, store=store) as sf:  # the next run (a new process would read the same file)
        sf.limits()
    assert [f["refresh_token"] for f in run2.forms()] == ["5Aep-R2"]
    assert store.load(R0) == "5Aep-R3"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.state_dir.stat().st_mode) == 0o700
    assert "5Aep-R" not in caplog.text and R0 not in caplog.text


def test_a_new_configured_token_replaces_the_stored_chain(tmp_path: Path) -> None:
    store = TokenFile(tmp_path / ".sfsync", "org")
    store.save(R0, "5Aep-old-chain")
    replay = Replay([(200, token_answer(1, "5Aep-N1")), (200, LIMITS)])
    with client(replay, store=store, refresh_token="5Aep-reauthorized") as sf:
        sf.limits()
    assert replay.forms()[0]["refresh_token"] == "5Aep-reauthorized"
    assert store.load("5Aep-reauthorized") == "5Aep-N1" and store.load(R0) is None


def test_without_rotation_the_configured_token_is_used_and_nothing_is_stored(tmp_path: Path) -> None:
    store = TokenFile(tmp_path / ".sfsync", "org")
    replay = Replay([(200, token_answer(1, None)), (200, LIMITS)])
    with client(replay, store=store) as sf:
        sf.limits()
    assert replay.forms()[0]["refresh_token"] == R0 and not store.path.exists()


def test_without_a_store_the_newest_token_is_kept_for_the_clients_life() -> None:
    replay = Replay(
        [
            (200, token_answer(1, "5Aep-R1")),
            (401, SESSION_EXPIRED),
            (200, token_answer(2, None)),
            (200, LIMITS),
        ]
    )
    with client(replay) as sf:
        sf.limits()
    assert [f["refresh_token"] for f in replay.forms()] == [R0, "5Aep-R1"]


UNKNOWN_ERROR = {"error": "unknown_error", "error_description": "retry your request"}


@pytest.mark.parametrize(
    "transient",
    [
        (400, UNKNOWN_ERROR),  # amazon-connect-salesforce-lambda issue #43; salto-io/salto PR #2834
        (503, b"<html><body>Service Unavailable</body></html>"),
        (500, UNKNOWN_ERROR),
    ],
    ids=["unknown_error", "503-html", "500-unknown_error"],
)
def test_transient_login_answers_are_retried(transient: tuple[int, Any]) -> None:
    replay = Replay([transient, transient, (200, token_answer(1, None)), (200, LIMITS)])
    with client(replay, flow="password", username="u@example.com", password="pw", client_secret="s") as sf:
        assert sf.limits() == LIMITS
        assert sf.stats.retries == 2 and len(replay.forms()) == 3


@pytest.mark.parametrize(
    ("flow", "answer", "hint_says"),
    [
        (
            "password",
            {"error": "invalid_grant", "error_description": "authentication failure"},
            "security token",
        ),
        (
            "refresh_token",
            {"error": "invalid_grant", "error_description": "expired access/refresh token"},
            "authorize the connected app again",
        ),
        (
            "refresh_token",
            # segmentio/action-destinations PR #2300: what a second simultaneous refresh gets
            {"error": "invalid_grant", "error_description": "token request is already being processed"},
            "its own refresh token",
        ),
        (
            "password",
            {"error": "invalid_client_id", "error_description": "client identifier invalid"},
            "consumer key",
        ),
    ],
    ids=["bad-password", "revoked-refresh-token", "concurrent-refresh", "bad-client-id"],
)
def test_real_auth_failures_fail_at_once_with_their_hint(
    flow: str, answer: dict[str, str], hint_says: str
) -> None:
    replay = Replay([(400, answer)])
    extra: dict[str, Any] = (
        {"username": "u@example.com", "password": "pw", "client_secret": "s"} if flow == "password" else {}
    )
    with client(replay, flow=flow, **extra) as sf, pytest.raises(AuthError) as exc:
        sf.authenticate()
    assert len(replay.requests) == 1, "an authentication failure is never retried"
    assert exc.value.code == answer["error"] and hint_says in (exc.value.hint or "")
    assert R0 not in str(exc.value) and "pw" not in exc.value.message


@pytest.mark.parametrize(
    ("cell", "code", "message", "fields"),
    [
        # jsforce test/bulk2.test.ts, inserting an Account without Name on a real org
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [Name]",
            ("Name",),
        ),
        # salesforcecli plugin-data test/commands/data/bulk NUTs (real scratch orgs)
        (
            "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--",
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            (),
        ),
        (
            "MALFORMED_ID:malformed id 001000000000000AAA:--",
            "MALFORMED_ID",
            "malformed id 001000000000000AAA",
            (),
        ),
        # Census's Salesforce error catalogue (Bulk API 2.0 loads)
        (
            "DUPLICATES_DETECTED:Use one of these records?:--",
            "DUPLICATES_DETECTED",
            "Use one of these records?",
            (),
        ),
        (
            "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: "
            "001xx0000000001AAA:--",
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 200 records: 001xx0000000001AAA",
            (),
        ),
    ],
)
def test_real_bulk_error_cells_give_a_clean_message_and_the_fields(
    cell: str, code: str, message: str, fields: tuple[str, ...]
) -> None:
    parsed = parse_bulk_error(cell)
    assert (parsed.status_code, parsed.message, parsed.fields) == (code, message, fields)


# ---- what sfsync asks of the org's automation, on the wire ---------------------------------------------

CREATED = [{"id": "0015g00000AbCdEAAV", "success": True, "errors": []}]
# The per-record refusal of a duplicate rule in an sObject Collections answer, as the Collections
# documentation's example shows it (Salesforce REST API guide, "Create Records Using sObject Collections")
DUPLICATE = [
    {
        "success": False,
        "errors": [
            {"statusCode": "DUPLICATES_DETECTED", "message": "Use one of these records?", "fields": []}
        ],
    }
]
JOB = {"id": "7505g00000AbCdEAAV", "state": "Open", "object": "Lead", "operation": "insert"}


def password_client(replay: Replay) -> SalesforceClient:
    return client(replay, flow="password", username="u@example.com", password="pw", client_secret="s")


@pytest.mark.parametrize(
    ("options", "assign", "duplicate"),
    [
        (SaveOptions(), "FALSE", "allowSave=false"),
        (SaveOptions(assignment="default", allow_save=True), "TRUE", "allowSave=true"),
        (SaveOptions(assignment="01Q5g000000AbCdEAA"), "01Q5g000000AbCdEAA", "allowSave=false"),
    ],
    ids=["none-enforce", "default-allow_save", "rule-id"],
)
def test_rest_writes_carry_the_automation_headers_as_configured(
    options: SaveOptions, assign: str, duplicate: str
) -> None:
    replay = Replay([(200, token_answer(1, None)), (200, CREATED), (200, DUPLICATE)])
    with password_client(replay) as sf:
        [ok] = sf.create("Lead", [{"LastName": "Lee", "Company": "Acme"}], options=options)
        [refused] = sf.upsert("Lead", "External_Id__c", [{"External_Id__c": "x"}], options=options)
    assert ok.success and refused.error_codes == ("DUPLICATES_DETECTED",)
    for request in replay.requests[1:]:
        assert request.headers["Sforce-Auto-Assign"] == assign
        assert request.headers["Sforce-Duplicate-Rule-Header"] == duplicate


def test_without_options_no_automation_header_is_sent() -> None:
    replay = Replay([(200, token_answer(1, None)), (200, CREATED)])
    with password_client(replay) as sf:
        sf.create("Lead", [{"LastName": "Lee", "Company": "Acme"}])
    assert "Sforce-Auto-Assign" not in replay.requests[1].headers


def test_bulk_jobs_name_the_assignment_rule() -> None:
    replay = Replay([(200, token_answer(1, None)), (200, JOB), (200, JOB)])
    with password_client(replay) as sf:
        sf.bulk.create_job("Lead", "insert", assignment_rule_id="01Q5g000000AbCdEAA")
        sf.bulk.create_job("Lead", "insert")
    with_rule, without = (json.loads(r.content) for r in replay.requests[1:])
    assert with_rule["assignmentRuleId"] == "01Q5g000000AbCdEAA" and "assignmentRuleId" not in without


def test_decimals_go_out_digit_for_digit_and_nan_never_does() -> None:
    replay = Replay([(200, token_answer(1, None)), (200, CREATED)])
    amount = Decimal("12345678901234567.89")  # 19 digits: a binary float keeps about 16
    with password_client(replay) as sf:
        sf.create("Account", [{"Name": "A", "AnnualRevenue": amount, "Score__c": 0.1}])
        with pytest.raises(ValueError, match="not a number JSON can carry"):
            sf.create("Account", [{"Name": "B", "Score__c": float("nan")}])
    body = replay.requests[1].content.decode()
    assert '"AnnualRevenue":12345678901234567.89' in body and '"Score__c":0.1' in body
    assert len(replay.requests) == 2, "nothing is sent for a NaN"
