"""simple-salesforce, unchanged, against the emulator over real TLS (it only speaks https)."""

from __future__ import annotations

import csv
import io
from typing import Any, cast

import pytest
import requests
from simple_salesforce.api import Salesforce  # the package re-exports it without __all__
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

BULK_POLL_SECONDS = 0.05  # simple-salesforce sleeps this long before each job poll


@pytest.fixture
def sf(live_tls_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify, so set the variable too
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(live_tls_emulator.ca_path))
    session = requests.Session()
    session.verify = str(live_tls_emulator.ca_path)
    return Salesforce(
        instance_url=live_tls_emulator.url, session_id=live_tls_emulator.token(), session=session
    )


def test_describe_and_limits_headers(sf: Any) -> None:
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Account", "Contact", "Lead", "Case", "Contract"} <= names
    assert sf.api_usage["api-usage"].used == 1 and sf.api_usage["api-usage"].total == 15000
    fields = {f["name"] for f in sf.Contact.describe()["fields"]}
    assert {"LastName", "Email", "External_Id__c"} <= fields
    assert sf.limits()["DailyApiRequests"]["Remaining"] == 15000 - 3


def test_crud_and_upsert(sf: Any) -> None:
    created = sf.Account.create({"Name": "Acme"})
    assert created["success"] and created["id"].startswith("001")
    assert sf.Account.update(created["id"], {"Name": "Acme Corp"}) == 204
    assert sf.Account.get(created["id"])["Name"] == "Acme Corp"
    assert sf.Contact.upsert("External_Id__c/x-1", {"LastName": "One", "AccountId": created["id"]}) == 201
    assert sf.Contact.upsert("External_Id__c/x-1", {"LastName": "Uno"}) == 200
    got = sf.Contact.get_by_custom_id("External_Id__c", "x-1")
    assert got["LastName"] == "Uno" and got["AccountId"] == created["id"]
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.Contact.create({"FirstName": "no last name"})
    assert cast(Any, bad.value.content)[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.Contact.delete(got["Id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(got["Id"])


def test_collections_through_restful(sf: Any) -> None:
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Lead"}, "LastName": "L1", "Company": "C1"},
            {"attributes": {"type": "Lead"}, "LastName": "L2"},
        ],
    }
    results = sf.restful("composite/sobjects", method="POST", json=body)
    assert results[0]["success"] is True
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    ids = results[0]["id"]
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ids})
    assert deleted == [{"id": ids, "success": True, "errors": []}]


def test_bulk2_insert_and_query_all_over_2000_rows(sf: Any) -> None:
    records = [{"LastName": f"Bulk {i:05d}", "External_Id__c": f"b-{i}"} for i in range(2100)]
    [result] = sf.bulk2.Contact.insert(records=records, wait=BULK_POLL_SECONDS)
    assert result["numberRecordsProcessed"] == 2100 and result["numberRecordsFailed"] == 0
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(result["job_id"]))))
    assert len(ok) == 2100 and all(r["sf__Created"] == "true" for r in ok)
    everything = sf.query_all("SELECT Id, LastName FROM Contact ORDER BY LastName")
    assert everything["totalSize"] == 2100
    assert [r["LastName"] for r in everything["records"][:2]] == ["Bulk 00000", "Bulk 00001"]
    first = sf.query("SELECT Id FROM Contact")
    assert first["done"] is False and len(first["records"]) == 2000
    more = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert more["done"] is True and len(more["records"]) == 100
    exported = "".join(
        sf.bulk2.Contact.query("SELECT External_Id__c FROM Contact", max_records=1000, wait=BULK_POLL_SECONDS)
    )
    assert exported.count('"b-') == 2100


def test_bulk2_upsert_with_failures(sf: Any) -> None:
    records = [
        {"External_Id__c": "u-1", "LastName": "Good", "Email": "good@example.com"},
        {"External_Id__c": "u-2", "LastName": "Bad", "Email": "not an email"},
        {"External_Id__c": "u-3", "LastName": "", "Email": "x@example.com"},
    ]
    [result] = sf.bulk2.Contact.upsert(
        records=records, external_id_field="External_Id__c", wait=BULK_POLL_SECONDS
    )
    assert result["numberRecordsProcessed"] == 3 and result["numberRecordsFailed"] == 2
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(result["job_id"]))))
    errors = {r["External_Id__c"]: r["sf__Error"].split(":")[0] for r in failed}
    assert errors == {"u-2": "INVALID_EMAIL_ADDRESS", "u-3": "REQUIRED_FIELD_MISSING"}
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(result["job_id"]))))
    assert [(r["External_Id__c"], r["sf__Created"]) for r in ok] == [("u-1", "true")]
    [again] = sf.bulk2.Contact.upsert(
        records=records[:1], external_id_field="External_Id__c", wait=BULK_POLL_SECONDS
    )
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(again["job_id"]))))
    assert ok[0]["sf__Created"] == "false"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1


def test_expired_session_raises_simple_salesforce_error(sf: Any, live_tls_emulator: Any) -> None:
    live_tls_emulator.set_faults(session_seconds=0)
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.describe()
    assert cast(Any, err.value.content)[0]["errorCode"] == "INVALID_SESSION_ID"


def test_relationship_writes_by_external_id(sf: Any) -> None:
    acc = sf.Account.create({"Name": "Acme", "External_Id__c": "ACC-1"})["id"]
    made = sf.Contact.create({"LastName": "Doe", "Account": {"External_Id__c": "acc-1"}})
    assert sf.Contact.get(made["id"])["AccountId"] == acc
    assert (
        sf.Contact.upsert("External_Id__c/K1", {"LastName": "Poe", "Account": {"External_Id__c": "ACC-1"}})
        == 201
    )
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.Contact.create({"LastName": "Roe", "Account": {"External_Id__c": "ACC-404"}})
    assert cast(Any, bad.value.content) == [
        {
            "message": "Foreign key external ID: ACC-404 not found for field External_Id__c "
            "in entity Account",
            "errorCode": "INVALID_FIELD",
            "fields": [],
        }
    ]
    [result] = sf.bulk2.Contact.upsert(
        records=[
            {"External_Id__c": "B1", "LastName": "Bulk1", "Account.External_Id__c": "ACC-1"},
            {"External_Id__c": "B2", "LastName": "Bulk2", "Account.External_Id__c": "ACC-404"},
        ],
        external_id_field="External_Id__c",
        wait=BULK_POLL_SECONDS,
    )
    assert result["numberRecordsProcessed"] == 2 and result["numberRecordsFailed"] == 1
    [failed] = csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(result["job_id"])))
    assert failed["External_Id__c"] == "B2" and failed["sf__Error"].startswith("INVALID_FIELD:Foreign key")
    linked = sf.query_all(
        "SELECT LastName FROM Contact WHERE Account.External_Id__c = 'ACC-1' ORDER BY LastName"
    )
    assert [r["LastName"] for r in linked["records"]] == ["Bulk1", "Doe", "Poe"]
