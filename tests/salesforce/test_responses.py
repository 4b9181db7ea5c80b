"""classify(): what every kind of Salesforce answer means, on real httpx.Response objects."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sfsync.errors import AuthError, LimitError, SalesforceConfigError, SalesforceError, TransientError
from sfsync.salesforce.responses import (
    Kind,
    classify,
    classify_transport_error,
    collection_results,
    parse_api_usage,
    parse_bulk_error,
)
from sfsync.salesforce.results import RecordError


def answer(status: int, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = httpx.Request("GET", "https://example.my.salesforce.com/services/data/v62.0/sobjects")
    return httpx.Response(status, content=content, headers=headers, request=request)


def rest_error(code: str, message: str = "m", fields: list[str] | None = None) -> list[dict[str, Any]]:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return [item]


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, {"ok": True}, Kind.OK),
        (201, None, Kind.OK),
        (204, None, Kind.OK),
        (429, None, Kind.TRANSIENT),
        (500, rest_error("UNKNOWN_EXCEPTION"), Kind.TRANSIENT),
        (502, b"<html>Bad gateway</html>", Kind.TRANSIENT),
        (503, rest_error("SERVER_UNAVAILABLE"), Kind.TRANSIENT),
        (504, None, Kind.TRANSIENT),
        (400, rest_error("UNABLE_TO_LOCK_ROW"), Kind.TRANSIENT),
        (401, rest_error("INVALID_SESSION_ID", "Session expired or invalid"), Kind.SESSION_EXPIRED),
        (403, rest_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), Kind.LIMIT),
        (
            403,
            rest_error("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
            Kind.TRANSIENT,
        ),
        (403, rest_error("INSUFFICIENT_ACCESS"), Kind.CONFIG),
        (403, rest_error("API_DISABLED_FOR_ORG"), Kind.AUTH),
        (400, rest_error("INVALID_FIELD", "No such column 'Foo' on entity 'Account'."), Kind.CONFIG),
        (400, rest_error("INVALID_TYPE", "sObject type 'X' is not supported."), Kind.CONFIG),
        (400, rest_error("MALFORMED_QUERY"), Kind.CONFIG),
        (404, rest_error("NOT_FOUND", "The requested resource does not exist"), Kind.CONFIG),
        (400, {"error": "invalid_grant", "error_description": "authentication failure"}, Kind.AUTH),
        (
            400,
            {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
            Kind.AUTH,
        ),
        (401, {"error": "invalid_client", "error_description": "invalid client credentials"}, Kind.AUTH),
        (
            300,
            ["/services/data/v62.0/sobjects/Contact/003A", "/services/data/v62.0/sobjects/Contact/003B"],
            Kind.ERROR,
        ),
        (409, rest_error("INVALIDJOBSTATE"), Kind.ERROR),
    ],
)
def test_classify_every_kind_of_answer(status: int, body: Any, kind: Kind) -> None:
    assert classify(answer(status, body)).kind is kind


def test_outcome_carries_code_message_fields_and_retry_after() -> None:
    outcome = classify(
        answer(429, rest_error("REQUEST_LIMIT_EXCEEDED_X", "slow down", ["A"]), **{"Retry-After": "7"})
    )
    assert (outcome.code, outcome.message, outcome.fields, outcome.retry_after) == (
        "REQUEST_LIMIT_EXCEEDED_X",
        "slow down",
        ("A",),
        7.0,
    )


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (503, rest_error("SERVER_UNAVAILABLE"), TransientError),
        (400, {"error": "invalid_grant", "error_description": "authentication failure"}, AuthError),
        (403, rest_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), LimitError),
        (
            400,
            rest_error("INVALID_FIELD", "No such column 'Foo' on entity 'Account'."),
            SalesforceConfigError,
        ),
        (409, rest_error("INVALIDJOBSTATE", "job is closed"), SalesforceError),
    ],
)
def test_errors_name_code_message_and_a_fix(status: int, body: Any, cls: type[SalesforceError]) -> None:
    error = classify(answer(status, body)).error(what="GET sobjects", object="Account", job_id="750x")
    assert type(error) is cls
    assert error.status == status and error.code and error.code in str(error)
    assert error.object == "Account" and error.job_id == "750x"
    assert error.hint, "every Salesforce error tells the user what to do"


def test_plain_text_and_empty_error_bodies_still_explain() -> None:
    outcome = classify(answer(502, b"<html>upstream\nbroke</html>"))
    assert "upstream broke" in outcome.message
    assert classify(answer(503)).message  # reason phrase at least


def test_transport_errors_before_and_after_sending() -> None:
    request = httpx.Request("POST", "https://x.example/services/data/v62.0/composite/sobjects")
    refused = classify_transport_error(httpx.ConnectError("Connection refused", request=request))
    assert refused.kind is Kind.TRANSIENT and not refused.ambiguous
    reset = classify_transport_error(httpx.ReadError("Connection reset by peer", request=request))
    assert reset.kind is Kind.TRANSIENT and reset.ambiguous
    tls = classify_transport_error(
        httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=request)
    )
    assert tls.kind is Kind.CONFIG and "ca_bundle" in tls.message


def test_api_usage_header() -> None:
    assert parse_api_usage(httpx.Headers({"Sforce-Limit-Info": "api-usage=25/15000"})) == (25, 15000)
    assert parse_api_usage(httpx.Headers({"sforce-limit-info": "per-app-api-usage=1/5, api-usage=3/9"})) == (
        3,
        9,
    )
    assert parse_api_usage(httpx.Headers({})) is None


def test_collection_results_keep_input_positions_and_codes() -> None:
    items = [
        {"id": "001000000000001AAA", "success": True, "errors": [], "created": True},
        {
            "success": False,
            "errors": [
                {
                    "statusCode": "REQUIRED_FIELD_MISSING",
                    "message": "Required fields are missing: [Name]",
                    "fields": ["Name"],
                }
            ],
        },
        {
            "success": False,
            "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain lock"}],
        },
    ]
    results = collection_results(items, [10, 11, 12])
    assert [r.index for r in results] == [10, 11, 12]
    assert results[0].success and results[0].created is True and results[0].id == "001000000000001AAA"
    assert results[1].error_codes == ("REQUIRED_FIELD_MISSING",) and results[1].errors[0].fields == ("Name",)
    assert not results[1].retryable and results[2].retryable
    with pytest.raises(SalesforceError, match="2 results for 3 records"):
        collection_results(items[:2], [0, 1, 2])


def test_bulk_error_cells() -> None:
    missing = parse_bulk_error("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName")
    assert missing == RecordError(
        "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ("LastName",)
    )
    real_org = parse_bulk_error("REQUIRED_FIELD_MISSING:Required fields are missing: [A, B]:A,B --")
    assert real_org.fields == ("A", "B") and real_org.message == "Required fields are missing: [A, B]"
    email = parse_bulk_error("INVALID_EMAIL_ADDRESS:Email: invalid email address: bad:Email")
    assert email == RecordError("INVALID_EMAIL_ADDRESS", "Email: invalid email address: bad", ("Email",))
    no_fields = parse_bulk_error(
        "DUPLICATE_VALUE:duplicate value found: Ext__c duplicates value on record with id: 001"
    )
    assert no_fields.fields == () and no_fields.message.endswith("with id: 001")
    too_long = parse_bulk_error("STRING_TOO_LONG:Last Name: data value too large: xxx (max length=80)")
    assert too_long.status_code == "STRING_TOO_LONG" and too_long.fields == ()
    assert parse_bulk_error("something odd").status_code == "UNKNOWN"
