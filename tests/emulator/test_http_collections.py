"""sObject Collections over HTTP: create, update, upsert, delete, retrieve, allOrNone, the 200 limit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.plugins.emulator import InProcessEmulator

C = "/services/data/v59.0/composite/sobjects"


@pytest.fixture
def sf(emulator: InProcessEmulator) -> httpx.Client:
    return emulator.client()


def acct(name: str) -> dict[str, Any]:
    return {"attributes": {"type": "Account"}, "Name": name}


def test_create_update_delete_in_order(sf: httpx.Client, emulator: Any) -> None:
    r = sf.post(
        C, json={"allOrNone": False, "records": [acct("A"), {"attributes": {"type": "Account"}}, acct("C")]}
    )
    assert r.status_code == 200
    a, bad, c = r.json()
    assert a["success"] and a["id"].startswith("001") and a["errors"] == []
    assert bad["success"] is False and "id" not in bad
    assert bad["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING" and bad["errors"][0]["fields"] == [
        "Name"
    ]
    assert c["success"]
    upd = sf.patch(
        C,
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "id": a["id"], "Name": "A2"},
                {"attributes": {"type": "Account"}, "id": "001000000000000AAA", "Name": "ghost"},
            ],
        },
    ).json()
    assert upd[0] == {"id": a["id"], "success": True, "errors": []}
    assert upd[1]["success"] is False
    got = sf.get(f"{C}/Account", params={"ids": f"{a['id']},{c['id']}", "fields": "Id,Name"}).json()
    assert [g["Name"] for g in got] == ["A2", "C"]
    deleted = sf.delete(C, params={"ids": f"{a['id']},{c['id']}", "allOrNone": "false"}).json()
    assert [d["success"] for d in deleted] == [True, True]
    count = emulator.org.query("SELECT COUNT() FROM Account").total_size
    assert count == 0


def test_all_or_none_rolls_back_everything(sf: httpx.Client, emulator: Any) -> None:
    r = sf.post(C, json={"allOrNone": True, "records": [acct("A"), {"attributes": {"type": "Account"}}]})
    good, bad = r.json()
    assert good["success"] is False
    assert good["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert bad["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert emulator.org.query("SELECT COUNT() FROM Account").total_size == 0


def test_upsert_reports_created(sf: httpx.Client) -> None:
    recs = [
        {"attributes": {"type": "Contact"}, "External_Id__c": "e1", "LastName": "One"},
        {"attributes": {"type": "Contact"}, "External_Id__c": "e2", "LastName": "Two"},
    ]
    first = sf.patch(f"{C}/Contact/External_Id__c", json={"allOrNone": False, "records": recs}).json()
    assert [x["created"] for x in first] == [True, True] and all(x["success"] for x in first)
    recs[0]["LastName"] = "Uno"
    recs.append({"attributes": {"type": "Contact"}, "External_Id__c": "e3"})  # no LastName
    second = sf.patch(f"{C}/Contact/External_Id__c", json={"allOrNone": False, "records": recs}).json()
    assert second[0] == {"id": first[0]["id"], "success": True, "errors": [], "created": False}
    assert second[2]["success"] is False and second[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"


def test_more_than_200_records_is_a_400(sf: httpx.Client) -> None:
    r = sf.post(C, json={"allOrNone": False, "records": [acct(f"A{i}") for i in range(201)]})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    ids = ",".join(["001000000000000AAA"] * 201)
    assert sf.delete(C, params={"ids": ids}).status_code == 400
    r = sf.post(C, json={"records": "nope"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_update_checks_each_id_against_its_declared_type(sf: httpx.Client) -> None:
    account = sf.post(C, json={"records": [acct("A")]}).json()[0]["id"]
    contact = sf.post(C, json={"records": [{"attributes": {"type": "Contact"}, "LastName": "L"}]}).json()[0][
        "id"
    ]
    upd = sf.patch(
        C,
        json={
            "records": [
                {"attributes": {"type": "Contact"}, "id": account, "LastName": "X"},  # an Account id
                {"attributes": {"type": "Contact"}, "id": contact, "LastName": "Y"},
            ]
        },
    )
    assert upd.status_code == 200
    wrong, right = upd.json()
    assert wrong["success"] is False and wrong["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert right == {"id": contact, "success": True, "errors": []}


# The message Salesforce documents for records rolled back by allOrNone (the example answers of "Upsert
# Records Using sObject Collections" and "Delete Records Using sObject Collections").
ROLLED_BACK_MESSAGE = (
    "Record rolled back because not all records were valid and the request was using AllOrNone header"
)


def test_rolled_back_upsert_answers_like_the_recorded_real_org(sf: httpx.Client, emulator: Any) -> None:
    """Recorded shape: jsforce's integration test against a real org (jsforce/jsforce,
    test/connection-crud.test.ts, "allOrNone=true and one invalid record") upserts five new Accounts, one
    with OwnerId "INVALID_OWNER": every item answers success false with ``created: true``, the bad one
    MALFORMED_ID, the others ALL_OR_NONE_OPERATION_ROLLED_BACK, and none of the records exists afterwards."""
    records = [
        {"attributes": {"type": "Contact"}, "External_Id__c": f"AON-{i}", "LastName": f"Rolled {i}"}
        for i in range(5)
    ]
    records[2]["OwnerId"] = "INVALID_OWNER"
    r = sf.patch(f"{C}/Contact/External_Id__c", json={"allOrNone": True, "records": records})
    assert r.status_code == 200
    items = r.json()
    assert [(x["success"], x["created"]) for x in items] == [(False, True)] * 5
    assert items[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    for i in (0, 1, 3, 4):
        assert items[i]["errors"] == [
            {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": ROLLED_BACK_MESSAGE, "fields": []}
        ]
    found = emulator.org.query("SELECT COUNT() FROM Contact WHERE External_Id__c LIKE 'AON-%'")
    assert found.total_size == 0


def test_duplicate_value_names_the_other_record_like_a_real_org(sf: httpx.Client) -> None:
    """Recorded shape: a real org's answer kept in codelicia/trineforce (tests/fixtures/composite_error.json)
    reads ``duplicate value found: ExternalId__c duplicates value on record with id: 0010E00000eg3gH`` with
    ``"fields": []``: the other record by its 15-character id, no field listed."""
    first = sf.post(
        C,
        json={"records": [{"attributes": {"type": "Contact"}, "LastName": "a", "External_Id__c": "DV-1"}]},
    ).json()[0]
    assert first["success"] and len(first["id"]) == 18
    again = sf.post(
        C,
        json={"records": [{"attributes": {"type": "Contact"}, "LastName": "b", "External_Id__c": "DV-1"}]},
    ).json()[0]
    assert again == {
        "success": False,
        "errors": [
            {
                "statusCode": "DUPLICATE_VALUE",
                "message": "duplicate value found: External_Id__c duplicates value on record with id: "
                + first["id"][:15],
                "fields": [],
            }
        ],
    }
