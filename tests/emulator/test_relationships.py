"""Parents named through an indexed field, over HTTP: REST single-record calls, Collections and Bulk ingest.

Also record types and queues from an org file: describe, defaults on create, and the errors a real org
gives. Expected messages come from recorded real answers where one exists (see
``sfsync/emulator/records/relations.py`` for the sources).
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.metadata.orgfile import OrgFileError, load_org_file
from tests.plugins.emulator import InProcessEmulator

V = "/services/data/v59.0"
C = f"{V}/composite/sobjects"
J = f"{V}/jobs/ingest"
POLL_LIMIT_SECONDS = 60

ORG_FILE = """
objects:
  Account:
    record_types:
      - {developer_name: Customer, label: Customer Account, default: true}
      - {developer_name: Partner, label: Partner Account}
      - {developer_name: Retired, active: false}
  Case:
    record_types:
      - {developer_name: Support}
queues:
  - {name: Support Queue}
users:
  - {username: gone@example.com, password: pw-gone, active: false}
"""


@pytest.fixture
def rich_org(org_config: OrgConfig, tmp_path: Path) -> OrgConfig:
    """The default org plus record types, a queue and an inactive user (set up before the app is built)."""
    path = tmp_path / "org.yaml"
    path.write_text(ORG_FILE, encoding="utf-8")
    loaded = load_org_file(path, org_config)
    org_config.__dict__.update(loaded.__dict__)
    return org_config


@pytest.fixture
def sf(emulator: InProcessEmulator) -> httpx.Client:
    return emulator.client()


def _create(sf: httpx.Client, obj: str, body: dict[str, Any]) -> str:
    r = sf.post(f"{V}/sobjects/{obj}/", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _get(sf: httpx.Client, obj: str, rid: str, fields: str) -> dict[str, Any]:
    out: dict[str, Any] = sf.get(f"{V}/sobjects/{obj}/{rid}", params={"fields": fields}).json()
    return out


def _errors(results: list[dict[str, Any]]) -> list[tuple[str, str, list[str]] | None]:
    return [
        None
        if r["success"]
        else (r["errors"][0]["statusCode"], r["errors"][0]["message"], r["errors"][0]["fields"])
        for r in results
    ]


def _not_found(value: str, field: str = "External_Id__c", entity: str = "Account") -> str:
    return f"Foreign key external ID: {value} not found for field {field} in entity {entity}"


# ---- REST single-record calls ---------------------------------------------------------------------------
def test_rest_single_record_calls_resolve_parents(sf: httpx.Client) -> None:
    acc = _create(sf, "Account", {"Name": "Acme", "External_Id__c": "ACC-1"})
    cid = _create(sf, "Contact", {"LastName": "Doe", "Account": {"External_Id__c": "acc-1"}})
    assert _get(sf, "Contact", cid, "AccountId")["AccountId"] == acc

    r = sf.patch(f"{V}/sobjects/Contact/{cid}", json={"Account": {"External_Id__c": "ACC-404"}})
    assert r.status_code == 400
    assert r.json() == [{"message": _not_found("ACC-404"), "errorCode": "INVALID_FIELD", "fields": []}]
    assert _get(sf, "Contact", cid, "AccountId")["AccountId"] == acc  # nothing written

    r = sf.patch(f"{V}/sobjects/Contact/{cid}", json={"AccountId": None})
    assert r.status_code == 204 and _get(sf, "Contact", cid, "AccountId")["AccountId"] is None

    boss = _create(sf, "Contact", {"LastName": "Boss", "Email": "boss@example.com"})
    r = sf.patch(
        f"{V}/sobjects/Contact/External_Id__c/C-9",
        json={"LastName": "Nine", "ReportsTo": {"Email": "BOSS@example.com"}, "Account": {"Id": acc}},
    )
    assert r.status_code == 201 and r.json()["created"] is True
    got = _get(sf, "Contact", r.json()["id"], "ReportsToId,AccountId")
    assert (got["ReportsToId"], got["AccountId"]) == (boss, acc)


def test_rest_unknown_parent_field_is_a_request_error(sf: httpx.Client) -> None:
    r = sf.post(f"{V}/sobjects/Contact/", json={"LastName": "x", "Account": {"Nope__c": "1"}})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "Nope__c" in r.json()[0]["message"]


# ---- Collections ---------------------------------------------------------------------------------------
def test_collections_resolve_and_reject_per_record(sf: httpx.Client, emulator: Any) -> None:
    acc = _create(sf, "Account", {"Name": "Acme", "External_Id__c": "ACC-1"})
    contact = {"attributes": {"type": "Contact"}, "LastName": "x"}
    records = [
        {**contact, "Account": {"External_Id__c": "ACC-1"}},
        {**contact, "Account": {"External_Id__c": "ACC-2"}},
        {**contact, "Account": {"Name": "Acme"}},
        {**contact, "Account": {"External_Id__c": "ACC-1", "Id": acc}},
        {**contact, "Account": {"attributes": {"type": "Contact"}, "External_Id__c": "ACC-1"}},
    ]
    results = sf.post(C, json={"allOrNone": False, "records": records}).json()
    assert results[0]["success"]
    assert _errors(results)[1:] == [
        ("INVALID_FIELD", _not_found("ACC-2"), []),
        ("INVALID_FIELD", "Field name provided, Name is not an External ID or indexed field for Account", []),
        (
            "INVALID_FIELD",
            "More than 1 field provided in an external foreign key reference in entity: Account",
            [],
        ),
        (
            "INVALID_FIELD",
            "Contact is not a valid type for the relationship Account: it refers to Account",
            [],
        ),
    ]
    assert emulator.org.query("SELECT COUNT() FROM Contact").total_size == 1
    upsert = sf.patch(
        f"{C}/Contact/External_Id__c",
        json={
            "allOrNone": False,
            "records": [
                {**contact, "External_Id__c": "K1", "Account": {"External_Id__c": "ACC-1"}},
                {**contact, "External_Id__c": "K2", "Account": {"External_Id__c": "ACC-9"}},
            ],
        },
    ).json()
    assert upsert[0]["success"] and upsert[0]["created"] is True
    assert _errors(upsert)[1] == ("INVALID_FIELD", _not_found("ACC-9"), [])
    rows = emulator.org.query(
        "SELECT External_Id__c, Account.External_Id__c FROM Contact WHERE External_Id__c != null"
    )
    assert [(r["External_Id__c"], r["Account"]["External_Id__c"]) for r in rows.records] == [("K1", "ACC-1")]


def test_several_parents_matching_an_idlookup_value(sf: httpx.Client) -> None:
    for name in ("A", "B"):
        _create(sf, "Contact", {"LastName": name, "Email": "same@example.com"})
    r = sf.post(
        C,
        json={
            "records": [
                {
                    "attributes": {"type": "Contact"},
                    "LastName": "c",
                    "ReportsTo": {"Email": "same@example.com"},
                }
            ]
        },
    ).json()
    code, message, fields = _errors(r)[0] or ("", "", [])
    assert code == "INVALID_FIELD" and fields == []
    assert message.startswith("Foreign key external ID: same@example.com matched more than one record")


def test_polymorphic_owner_names_its_object(sf: httpx.Client, emulator: Any) -> None:
    lead = {"attributes": {"type": "Lead"}, "LastName": "L", "Company": "Co"}
    results = sf.post(
        C,
        json={
            "records": [
                {**lead, "Owner": {"attributes": {"type": "User"}, "Username": "admin@example.com"}},
                {**lead, "Owner": {"Username": "admin@example.com"}},
                {**lead, "Owner": {"attributes": {"type": "User"}, "Username": "nobody@example.com"}},
            ]
        },
    ).json()
    admin = emulator.config.users[0].id
    assert results[0]["success"] and _get(sf, "Lead", results[0]["id"], "OwnerId")["OwnerId"] == admin
    assert _errors(results)[1] == (
        "INVALID_FIELD",
        'Owner is a polymorphic relationship (Group, User): name the parent object in "attributes": '
        '{"type": "User"}',
        [],
    )
    assert _errors(results)[2] == ("INVALID_FIELD", _not_found("nobody@example.com", "Username", "User"), [])


# ---- Bulk API 2.0 ingest ---------------------------------------------------------------------------------
def _wait(sf: httpx.Client, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while time.monotonic() < deadline:
        info: dict[str, Any] = sf.get(url).json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return info
        time.sleep(0.02)
    raise AssertionError(f"job {url} did not finish")


def _job(sf: httpx.Client, obj: str, operation: str, data: str, ext: str | None = None) -> dict[str, Any]:
    spec = {"object": obj, "operation": operation, "contentType": "CSV", "lineEnding": "LF"}
    job = sf.post(J, json={**spec, **({"externalIdFieldName": ext} if ext else {})}).json()
    sf.put(f"{J}/{job['id']}/batches", content=data.encode(), headers={"Content-Type": "text/csv"})
    sf.patch(f"{J}/{job['id']}", json={"state": "UploadComplete"})
    return _wait(sf, f"{J}/{job['id']}")


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_bulk_relationship_columns_resolve_per_row(sf: httpx.Client, emulator: Any) -> None:
    acc = _create(sf, "Account", {"Name": "Acme", "External_Id__c": "ACC-1"})
    info = _job(
        sf,
        "Contact",
        "upsert",
        "External_Id__c,LastName,Account.External_Id__c,User:Owner.Username\n"
        "K1,One,ACC-1,\nK2,Two,ACC-404,\nK3,Three,,admin@example.com\n",
        ext="External_Id__c",
    )
    assert (
        info["state"] == "Failed"
        and "type is not needed for non polymorphic foreign key references: Owner" in (info["errorMessage"])
    )
    info = _job(
        sf,
        "Contact",
        "upsert",
        "External_Id__c,LastName,Account.External_Id__c\nK1,One,ACC-1\nK2,Two,ACC-404\n",
        ext="External_Id__c",
    )
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    [failed] = _csv(sf.get(f"{J}/{info['id']}/failedResults/").text)
    # the real cell form CODE:message:fields --, "--" alone without fields (jsforce test/bulk2.test.ts)
    assert failed["sf__Error"] == "INVALID_FIELD:" + _not_found("ACC-404") + ":--"
    assert failed["External_Id__c"] == "K2"
    rows = emulator.org.query("SELECT External_Id__c, AccountId FROM Contact").records
    assert [(r["External_Id__c"], r["AccountId"]) for r in rows] == [("K1", acc)]
    # a cleared reference: #N/A in the reference field's own column
    info = _job(sf, "Contact", "upsert", "External_Id__c,AccountId\nK1,#N/A\n", ext="External_Id__c")
    assert info["numberRecordsFailed"] == 0
    assert next(iter(emulator.org.query("SELECT AccountId FROM Contact").records))["AccountId"] is None


def test_bulk_polymorphic_header_needs_its_object(sf: httpx.Client, emulator: Any) -> None:
    info = _job(sf, "Lead", "insert", "LastName,Company,Owner.Username\nL,Co,admin@example.com\n")
    assert info["state"] == "Failed"
    assert "Owner is a polymorphic relationship (Group, User)" in info["errorMessage"]
    info = _job(sf, "Lead", "insert", "LastName,Company,User:Owner.Username\nL,Co,admin@example.com\n")
    assert info["numberRecordsFailed"] == 0
    assert next(iter(emulator.org.query("SELECT Owner.Username FROM Lead").records))["Owner"]["Username"] == (
        "admin@example.com"
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "Account.Name",
            "InvalidBatch : Field name provided, Name is not an External ID or indexed field for Account",
        ),
        ("Nope.External_Id__c", "InvalidBatch : Field name not found : Nope.External_Id__c"),
        ("Account.Nope__c", "InvalidBatch : Field name not found : Account.Nope__c"),
        ("Contact:Parent.External_Id__c", "InvalidBatch : Unable to find relationship: Parent"),
    ],
)
def test_bulk_header_errors_fail_the_job(sf: httpx.Client, header: str, message: str) -> None:
    info = _job(sf, "Contact", "insert", f"LastName,{header}\nx,y\n")
    assert info["state"] == "Failed" and info["errorMessage"] == message
    assert info["numberRecordsProcessed"] == 0


# ---- describe ------------------------------------------------------------------------------------------
def test_every_reference_field_describes_its_relationship(sf: httpx.Client) -> None:
    for obj in ("Account", "Contact", "Lead", "Case", "Contract"):
        for f in sf.get(f"{V}/sobjects/{obj}/describe").json()["fields"]:
            if f["type"] != "reference":
                continue
            assert f["relationshipName"] and f["referenceTo"], (obj, f["name"])
            assert f["polymorphicForeignKey"] is (len(f["referenceTo"]) > 1), (obj, f["name"])
    owners = {
        obj: next(
            f for f in sf.get(f"{V}/sobjects/{obj}/describe").json()["fields"] if f["name"] == "OwnerId"
        )
        for obj in ("Contact", "Lead", "Case")
    }
    assert owners["Contact"]["referenceTo"] == ["User"] and not owners["Contact"]["polymorphicForeignKey"]
    assert owners["Lead"]["referenceTo"] == ["Group", "User"] and owners["Lead"]["polymorphicForeignKey"]
    assert owners["Case"]["relationshipName"] == "Owner"


# ---- record types and queues from the org file ------------------------------------------------------------
def test_record_types_describe_default_and_checks(rich_org: OrgConfig, sf: httpx.Client) -> None:
    d = sf.get(f"{V}/sobjects/Account/describe").json()
    infos = {i["developerName"]: i for i in d["recordTypeInfos"]}
    assert list(infos) == ["Customer", "Partner", "Retired", "Master"]
    assert infos["Customer"]["defaultRecordTypeMapping"] and infos["Customer"]["name"] == "Customer Account"
    assert not infos["Retired"]["available"] and infos["Master"]["master"]
    assert infos["Customer"]["recordTypeId"].startswith("012")
    rt_field = next(f for f in d["fields"] if f["name"] == "RecordTypeId")
    assert rt_field["referenceTo"] == ["RecordType"] and rt_field["relationshipName"] == "RecordType"
    assert not any(
        f["name"] == "RecordTypeId" for f in sf.get(f"{V}/sobjects/Contact/describe").json()["fields"]
    )

    plain = _create(sf, "Account", {"Name": "A"})
    assert _get(sf, "Account", plain, "RecordTypeId")["RecordTypeId"] == infos["Customer"]["recordTypeId"]
    partner = _create(sf, "Account", {"Name": "B", "RecordTypeId": infos["Partner"]["recordTypeId"]})
    q = sf.get(
        f"{V}/query", params={"q": f"SELECT RecordType.DeveloperName FROM Account WHERE Id = '{partner}'"}
    )
    assert q.json()["records"][0]["RecordType"]["DeveloperName"] == "Partner"

    case_rt = next(r for r in rich_org.objects["Case"].record_types).id
    results = sf.post(
        C,
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Name": "C", "RecordTypeId": case_rt},
                {
                    "attributes": {"type": "Account"},
                    "Name": "D",
                    "RecordTypeId": infos["Retired"]["recordTypeId"],
                },
            ]
        },
    ).json()
    for rt, err in zip((case_rt, infos["Retired"]["recordTypeId"]), _errors(results), strict=True):
        assert err == (
            "INVALID_CROSS_REFERENCE_KEY",
            f"Record Type ID: this ID value isn't valid for the user: {rt}",
            ["RecordTypeId"],
        )
    listed = sf.get(
        f"{V}/query", params={"q": "SELECT DeveloperName FROM RecordType WHERE SobjectType = 'Account'"}
    )
    assert sorted(r["DeveloperName"] for r in listed.json()["records"]) == ["Customer", "Partner", "Retired"]


def test_queues_own_leads_and_cases(rich_org: OrgConfig, sf: httpx.Client) -> None:
    queue = next(q for q in rich_org.queues if q.developer_name == "Support_Queue")
    assert queue.id.startswith("00G")
    soql = "SELECT Id, Name, Type FROM Group WHERE Type = 'Queue' AND Name = 'Support Queue'"
    groups = sf.get(f"{V}/query", params={"q": soql}).json()
    assert [(g["Id"], g["Name"]) for g in groups["records"]] == [(queue.id, "Support Queue")]
    case = _create(sf, "Case", {"Subject": "s", "OwnerId": queue.id})
    assert _get(sf, "Case", case, "OwnerId")["OwnerId"] == queue.id
    by_name = _create(
        sf, "Case", {"Subject": "t", "Owner": {"attributes": {"type": "Group"}, "Id": queue.id}}
    )
    assert _get(sf, "Case", by_name, "OwnerId")["OwnerId"] == queue.id
    inactive = next(u for u in rich_org.users if not u.active)
    results = sf.post(
        C,
        json={
            "records": [
                {"attributes": {"type": "Contact"}, "LastName": "q", "OwnerId": queue.id},
                {"attributes": {"type": "Case"}, "Subject": "u", "OwnerId": inactive.id},
            ]
        },
    ).json()
    contact_err, inactive_err = _errors(results)
    assert contact_err is not None and contact_err[0] == "INVALID_CROSS_REFERENCE_KEY"
    assert inactive_err == (
        "INACTIVE_OWNER_OR_USER",
        f"operation performed with inactive user [{inactive.id}] as owner of case",
        [],
    )


def test_org_file_refuses_bad_record_types_and_queues(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        """
objects:
  User:
    record_types: [{developer_name: X}]
  Account:
    record_types:
      - {developer_name: Dup}
      - {developer_name: dup}
      - {developer_name: Master}
""",
        encoding="utf-8",
    )
    with pytest.raises(OrgFileError) as err:
        load_org_file(path)
    assert err.value.keys == [
        "objects.User.record_types",
        "objects.Account.record_types[1].developer_name",
        "objects.Account.record_types[2].developer_name",
    ]
    assert "User cannot have record types" in str(err.value)
