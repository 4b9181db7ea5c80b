"""Every per-record error code (docs/salesforce-facts.md#error-codes), produced over HTTP by a record that
really breaks the rule, through sObject Collections (``statusCode``) and Bulk API 2.0 (``sf__Error``).

Cases are data: (name, object, records to send, expected code of the last record).
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx
import pytest

from sfsync.emulator.metadata.model import OrgConfig
from tests.plugins.emulator import InProcessEmulator

V = "/services/data/v59.0"
MISSING_ACCOUNT = "001000000000001AAA"
MISSING_CONTACT = "003000000000009AAA"

CASES: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("REQUIRED_FIELD_MISSING", "Contact", [{"FirstName": "no last name"}]),
    ("STRING_TOO_LONG", "Contact", [{"LastName": "x" * 81}]),
    ("INVALID_EMAIL_ADDRESS", "Contact", [{"LastName": "x", "Email": "foo"}]),
    ("INVALID_CROSS_REFERENCE_KEY", "Contact", [{"LastName": "x", "AccountId": MISSING_ACCOUNT}]),
    (
        "DUPLICATE_VALUE",
        "Contact",
        [{"LastName": "a", "External_Id__c": "k1"}, {"LastName": "b", "External_Id__c": "k1"}],
    ),
    ("INVALID_TYPE_ON_FIELD_IN_RECORD", "Account", [{"Name": "x", "NumberOfEmployees": "abc"}]),
    (
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "Contact",
        [{"LastName": "x", "LeadSource": "Carrier Pigeon"}],
    ),
    ("INVALID_FIELD_FOR_INSERT_UPDATE", "Contact", [{"LastName": "x", "IsEmailBounced": True}]),
]


@pytest.fixture
def restricted_lead_source(org_config: OrgConfig) -> None:
    """Make Contact.LeadSource a restricted picklist before the emulator is built from the config."""
    contact = org_config.object("Contact")
    assert contact is not None
    field = contact.field("LeadSource")
    assert field is not None
    field.restricted_picklist = True


@pytest.fixture
def sf(restricted_lead_source: None, emulator: InProcessEmulator) -> httpx.Client:
    return emulator.client()


def create_one_by_one(sf: httpx.Client, obj: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for rec in records:
        body = {"allOrNone": False, "records": [{"attributes": {"type": obj}, **rec}]}
        r = sf.post(f"{V}/composite/sobjects", json=body)
        assert r.status_code == 200, r.text
        result = r.json()[0]
    return result


@pytest.mark.parametrize(("code", "obj", "records"), CASES, ids=[c[0] for c in CASES])
def test_collections_report_the_code(
    sf: httpx.Client, code: str, obj: str, records: list[dict[str, Any]]
) -> None:
    result = create_one_by_one(sf, obj, records)
    assert result["success"] is False
    assert result["errors"][0]["statusCode"] == code, result


def _bulk(
    sf: httpx.Client, obj: str, operation: str, csv_text: str, ext: str | None = None
) -> list[dict[str, str]]:
    spec: dict[str, Any] = {"object": obj, "operation": operation, "contentType": "CSV", "lineEnding": "LF"}
    if ext:
        spec["externalIdFieldName"] = ext
    job = sf.post(f"{V}/jobs/ingest", json=spec).json()
    sf.put(
        f"{V}/jobs/ingest/{job['id']}/batches",
        content=csv_text.encode(),
        headers={"Content-Type": "text/csv"},
    )
    sf.patch(f"{V}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    deadline = time.monotonic() + 60
    while sf.get(f"{V}/jobs/ingest/{job['id']}").json()["state"] not in ("JobComplete", "Failed", "Aborted"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return list(csv.DictReader(io.StringIO(sf.get(f"{V}/jobs/ingest/{job['id']}/failedResults/").text)))


@pytest.mark.parametrize(("code", "obj", "records"), CASES, ids=[c[0] for c in CASES])
def test_bulk_reports_the_code(sf: httpx.Client, code: str, obj: str, records: list[dict[str, Any]]) -> None:
    failed: list[dict[str, str]] = []
    for rec in records:  # one job per record, so earlier records are committed first
        cells = {k: ("true" if v is True else str(v)) for k, v in rec.items()}
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(cells), lineterminator="\n")
        writer.writeheader()
        writer.writerow(cells)
        failed = _bulk(sf, obj, "insert", buf.getvalue())
    assert len(failed) == 1
    assert failed[0]["sf__Error"].split(":")[0] == code, failed[0]


def test_update_side_codes(sf: httpx.Client) -> None:
    made = create_one_by_one(sf, "Contact", [{"LastName": "gone"}])
    assert sf.delete(f"{V}/sobjects/Contact/{made['id']}").status_code == 204
    results = sf.patch(
        f"{V}/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "id": made["id"], "LastName": "back?"},
                {"attributes": {"type": "Contact"}, "id": MISSING_CONTACT, "LastName": "ghost"},
                {"attributes": {"type": "Contact"}, "id": "not-an-id", "LastName": "bad"},
            ],
        },
    ).json()
    codes = [r["errors"][0]["statusCode"] for r in results]
    assert codes == ["ENTITY_IS_DELETED", "NOT_FOUND", "MALFORMED_ID"]
    failed = _bulk(sf, "Contact", "update", f"Id,LastName\n{MISSING_CONTACT},x\nnot-an-id,y\n")
    assert sorted(f["sf__Error"].split(":")[0] for f in failed) == ["MALFORMED_ID", "NOT_FOUND"]


def test_duplicate_external_id_within_one_request(sf: httpx.Client) -> None:
    recs = [{"attributes": {"type": "Contact"}, "External_Id__c": "same", "LastName": n} for n in ("a", "b")]
    results = sf.patch(
        f"{V}/composite/sobjects/Contact/External_Id__c", json={"allOrNone": False, "records": recs}
    )
    assert {r["errors"][0]["statusCode"] for r in results.json()} == {"DUPLICATE_EXTERNAL_ID"}
    failed = _bulk(sf, "Contact", "upsert", "External_Id__c,LastName\nz,a\nz,b\n", ext="External_Id__c")
    assert {f["sf__Error"].split(":")[0] for f in failed} == {"DUPLICATE_EXTERNAL_ID"}


def test_lock_row_fault(sf: httpx.Client, emulator: Any) -> None:
    emulator.set_faults(lock_row_rate=1.0)
    result = create_one_by_one(sf, "Account", [{"Name": "locked"}])
    assert result["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    failed = _bulk(sf, "Account", "insert", "Name\nlocked\n")
    assert failed[0]["sf__Error"].startswith("UNABLE_TO_LOCK_ROW:")
    emulator.set_faults(lock_row_rate=0.0)
    assert create_one_by_one(sf, "Account", [{"Name": "free"}])["success"] is True
