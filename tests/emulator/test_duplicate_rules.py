"""Duplicate rules over HTTP: the standard rules of a new org, org-file rules, REST headers and Bulk.

Sources for the behaviour checked here are cited in sfsync/emulator/endpoints/automation_headers.py and
sfsync/emulator/records/duplicates.py (Salesforce's REST header and standard-rule pages; recorded
answers from real orgs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.metadata.orgfile import OrgFileError, load_org_file
from tests.emulator.test_http_bulk import rows, run_job
from tests.plugins.emulator import InProcessEmulator

V = "/services/data/v59.0"
ALLOW_SAVE = {"Sforce-Duplicate-Rule-Header": "allowSave=true"}
ANN = {"FirstName": "Ann", "LastName": "Lee", "Email": "ann@acme.example"}


@pytest.fixture
def sf(emulator: InProcessEmulator) -> httpx.Client:
    return emulator.client()


def create(sf: httpx.Client, obj: str, *records: dict[str, Any], **headers: str) -> list[dict[str, Any]]:
    body = {"allOrNone": False, "records": [{"attributes": {"type": obj}, **r} for r in records]}
    r = sf.post(f"{V}/composite/sobjects", json=body, headers=headers)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


def count(sf: httpx.Client, soql: str) -> int:
    return int(sf.get(f"{V}/query", params={"q": soql}).json()["totalSize"])


def test_a_new_org_refuses_a_duplicate_contact_through_rest_unless_the_request_allows_saving(
    sf: httpx.Client,
) -> None:
    [first] = create(sf, "Contact", ANN)
    assert first["success"]
    # same first name, last name and e-mail, written differently: the standard matching rule's equation
    [again] = create(sf, "Contact", {"FirstName": "ANN", "LastName": " lee ", "Email": "Ann@ACME.example"})
    assert again == {
        "success": False,
        "errors": [
            {"statusCode": "DUPLICATES_DETECTED", "message": "Use one of these records?", "fields": []}
        ],
    }
    assert count(sf, "SELECT COUNT() FROM Contact") == 1
    [saved] = create(sf, "Contact", ANN, **ALLOW_SAVE)
    assert saved["success"] and count(sf, "SELECT COUNT() FROM Contact") == 2


def test_the_duplicate_header_needs_api_52(sf: httpx.Client) -> None:
    create(sf, "Contact", ANN)
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Contact"}, **ANN}]}
    old = sf.post("/services/data/v51.0/composite/sobjects", json=body, headers=ALLOW_SAVE).json()
    assert old[0]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    new = sf.post("/services/data/v52.0/composite/sobjects", json=body, headers=ALLOW_SAVE).json()
    assert new[0]["success"]


def test_records_of_one_request_are_not_compared_with_each_other(sf: httpx.Client) -> None:
    results = create(sf, "Lead", {**ANN, "Company": "Acme"}, {**ANN, "Company": "Acme"})
    assert [r["success"] for r in results] == [True, True]
    again = create(sf, "Lead", {**ANN, "Company": "Acme"})
    assert again[0]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"


def test_blank_fields_never_match(sf: httpx.Client) -> None:
    create(sf, "Contact", {"LastName": "Lee", "Email": "ann@acme.example"})
    [second] = create(sf, "Contact", {"LastName": "Lee", "Email": "ann@acme.example"})
    assert second["success"], "no first name: no condition of the standard rule can match"


def test_single_record_create_answers_400_with_the_rule_and_matching_records(sf: httpx.Client) -> None:
    lead = {**ANN, "Company": "Acme"}
    first = sf.post(f"{V}/sobjects/Lead/", json=lead).json()["id"]
    r = sf.post(f"{V}/sobjects/Lead/", json=lead)
    assert r.status_code == 400
    [err] = r.json()
    assert err["errorCode"] == "DUPLICATES_DETECTED" and err["message"] == "Use one of these records?"
    result = err["duplicateResut"]  # sic: the key real orgs send
    assert result["duplicateRule"] == "Standard_Lead_Duplicate_Rule"
    assert result["duplicateRuleEntityType"] == "Lead" and result["allowSave"] is True
    [match] = result["matchResults"]
    assert match["rule"] == "Standard_Lead_Match_Rule_v1_0" and match["size"] == 1
    assert match["matchRecords"][0]["record"]["Id"] == first
    assert "Email" not in match["matchRecords"][0]["record"]
    detailed = sf.post(
        f"{V}/sobjects/Lead/",
        json=lead,
        headers={"Sforce-Duplicate-Rule-Header": "includeRecordDetails=true"},
    ).json()[0]
    record = detailed["duplicateResut"]["matchResults"][0]["matchRecords"][0]["record"]
    assert record["Email"] == "ann@acme.example" and record["Id"] == first


def test_standard_rules_only_report_on_edit(sf: httpx.Client) -> None:
    create(sf, "Contact", ANN)
    [other] = create(sf, "Contact", {"FirstName": "Bob", "LastName": "Ray", "Email": "bob@acme.example"})
    r = sf.patch(f"{V}/sobjects/Contact/{other['id']}", json=ANN)
    assert r.status_code == 204
    assert count(sf, "SELECT COUNT() FROM Contact WHERE Email = 'ann@acme.example'") == 2


def test_bulk_refuses_duplicates_with_the_real_error_cell(sf: httpx.Client) -> None:
    create(sf, "Contact", ANN)
    data = "FirstName,LastName,Email\nAnn,Lee,ann@acme.example\nBob,Ray,bob@acme.example\n"
    job_id, info = run_job(sf, {"object": "Contact", "operation": "insert"}, data)
    assert info["numberRecordsFailed"] == 1
    [failed] = rows(sf.get(f"{V}/jobs/ingest/{job_id}/failedResults/").text)
    assert failed["sf__Error"] == "DUPLICATES_DETECTED:Use one of these records?:--"
    assert failed["Email"] == "ann@acme.example"


def test_account_rule_compares_phones_by_their_digits(sf: httpx.Client) -> None:
    create(sf, "Account", {"Name": "Acme", "Phone": "(415) 555-1234"})
    [dup] = create(sf, "Account", {"Name": "ACME", "Phone": "415.555.1234"})
    assert dup["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    [other] = create(sf, "Account", {"Name": "Acme", "Phone": "415.555.9999"})
    assert other["success"]


def test_contact_company_is_its_accounts_name(sf: httpx.Client) -> None:
    [a1] = create(sf, "Account", {"Name": "Globex"})
    [a2] = create(sf, "Account", {"Name": "globex", "BillingCity": "Paris"}, **ALLOW_SAVE)
    base = {"FirstName": "Cy", "LastName": "Moe", "Title": "CFO"}
    create(sf, "Contact", {**base, "AccountId": a1["id"]})
    [dup] = create(sf, "Contact", {**base, "AccountId": a2["id"]})  # another account of the same name
    assert dup["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    [a3] = create(sf, "Account", {"Name": "Initech"})
    [ok] = create(sf, "Contact", {**base, "AccountId": a3["id"]})
    assert ok["success"]


def test_duplicate_rules_are_queryable(sf: httpx.Client) -> None:
    records = sf.get(
        f"{V}/query",
        params={
            "q": "SELECT DeveloperName, SobjectType FROM DuplicateRule "
            "WHERE IsActive = true ORDER BY SobjectType"
        },
    ).json()["records"]
    assert [(r["DeveloperName"], r["SobjectType"]) for r in records] == [
        ("Standard_Account_Duplicate_Rule", "Account"),
        ("Standard_Contact_Duplicate_Rule", "Contact"),
        ("Standard_Lead_Duplicate_Rule", "Lead"),
    ]


# ---- org file rules ----------------------------------------------------------------------------------

ORG_FILE = {
    "duplicate_rules": {
        "Standard_Contact_Duplicate_Rule": {"active": False},
        "Block_Same_Email": {
            "object": "Contact",
            "on_create": "block",
            "on_edit": "block",
            "alert_text": "That e-mail already belongs to a contact.",
            "match": [["Email"]],
        },
    }
}


class TestOrgFileRules:
    """An org whose file deactivates the standard contact rule and adds a blocking rule on Email."""

    @pytest.fixture
    def org_config(self, tmp_path: Path) -> OrgConfig:
        path = tmp_path / "org.yaml"
        path.write_text(yaml.safe_dump(ORG_FILE))
        return load_org_file(path)

    def test_block_rule_refuses_creates_and_edits_even_with_allow_save(self, sf: httpx.Client) -> None:
        create(sf, "Contact", ANN)
        [dup] = create(sf, "Contact", {"LastName": "Other", "Email": "ANN@acme.example"}, **ALLOW_SAVE)
        message = "That e-mail already belongs to a contact."
        assert dup["errors"] == [{"statusCode": "DUPLICATES_DETECTED", "message": message, "fields": []}]
        [bob] = create(sf, "Contact", {"LastName": "Ray", "Email": "bob@acme.example"})
        edit = {
            "records": [{"attributes": {"type": "Contact"}, "id": bob["id"], "Email": "ann@acme.example"}]
        }
        [res] = sf.patch(f"{V}/composite/sobjects", json=edit, headers=ALLOW_SAVE).json()
        assert res["errors"][0]["statusCode"] == "DUPLICATES_DETECTED" and res["id"] == bob["id"]
        # the deactivated standard rule no longer refuses same-name contacts
        [same_name] = create(sf, "Contact", {**ANN, "Email": "ann2@acme.example"})
        assert same_name["success"]


def test_org_file_problems_are_listed_with_their_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "duplicate_rules:\n"
        "  New_Rule: {object: Contact, match: [[Nope__c]]}\n"
        "  Other: {object: Contact, on_create: warn, match: [[Email]]}\n"
        "  No_Match: {object: Lead}\n"
    )
    with pytest.raises(OrgFileError) as exc:
        load_org_file(path)
    assert exc.value.keys == [
        "duplicate_rules.New_Rule.match",
        "duplicate_rules.Other.on_create",
        "duplicate_rules.No_Match.match",
    ]
