"""Assignment rules over HTTP: when a real org runs them (REST by default on create and update, the
``Sforce-Auto-Assign`` header, Bulk only with ``assignmentRuleId``) and what they set (a user or a queue).

Sources: https://developer.salesforce.com/docs/platform/api-rest/guide/headers-autoassign.html and
https://developer.salesforce.com/docs/platform/api-asynch/guide/create-job.html (``assignmentRuleId``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.metadata.orgfile import OrgFileError, load_org_file
from sfsync.emulator.metadata.schema import DEFAULT_USER_ID
from tests.emulator.test_http_bulk import J, run_job
from tests.plugins.emulator import InProcessEmulator

V = "/services/data/v59.0"
ORG_FILE = {
    "users": [{"username": "jane@example.com", "password": "pw"}],
    "queues": [{"name": "EMEA Leads"}],
    "assignment_rules": [
        {
            "name": "Lead Routing",
            "object": "Lead",
            "entries": [
                {"when": {"Country": ["FR", "DE"]}, "queue": "EMEA Leads"},
                {"when": {"LeadSource": "Web"}, "owner": "jane@example.com"},
            ],
        },
        {
            "name": "Old Routing",
            "object": "Lead",
            "active": False,
            "entries": [{"owner": "jane@example.com"}],
        },
        {
            "name": "Key Accounts",
            "object": "Account",
            "entries": [{"when": {"Rating": "Hot"}, "owner": "jane@example.com"}],
        },
    ],
}


@pytest.fixture
def org_config(tmp_path: Path) -> OrgConfig:
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(ORG_FILE, sort_keys=False))
    return load_org_file(path)


@pytest.fixture
def sf(emulator: InProcessEmulator) -> httpx.Client:
    return emulator.client()


def ids(sf: httpx.Client, soql: str) -> list[str]:
    return [r["Id"] for r in sf.get(f"{V}/query", params={"q": soql}).json()["records"]]


def owner(sf: httpx.Client, obj: str, record_id: str) -> str:
    return str(sf.get(f"{V}/sobjects/{obj}/{record_id}", params={"fields": "OwnerId"}).json()["OwnerId"])


def lead(sf: httpx.Client, headers: dict[str, str] | None = None, **fields: Any) -> str:
    body = {"LastName": "Lee", "Company": "Acme", **fields}
    r = sf.post(f"{V}/sobjects/Lead/", json=body, headers=headers or {})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_rest_runs_the_active_rule_by_default_on_create_and_update(sf: httpx.Client) -> None:
    [queue] = ids(sf, "SELECT Id FROM Group WHERE Type = 'Queue' AND DeveloperName = 'EMEA_Leads'")
    [jane] = ids(sf, "SELECT Id FROM User WHERE Username = 'jane@example.com'")
    fr = lead(sf, Country="fr")  # text criteria ignore case
    web = lead(sf, LeadSource="Web")
    other = lead(sf, Country="US")
    assert (owner(sf, "Lead", fr), owner(sf, "Lead", web), owner(sf, "Lead", other)) == (
        queue,
        jane,
        DEFAULT_USER_ID,  # no entry matches: the owner stays the running user
    )
    # an update that changes a criterion field reassigns the record, unless the request says FALSE
    assert sf.patch(f"{V}/sobjects/Lead/{other}", json={"LeadSource": "Web"}).status_code == 204
    assert owner(sf, "Lead", other) == jane
    r = sf.patch(
        f"{V}/sobjects/Lead/{other}", json={"Country": "DE"}, headers={"Sforce-Auto-Assign": "false"}
    )
    assert r.status_code == 204 and owner(sf, "Lead", other) == jane
    # an update naming no criterion field still runs the rule on the saved values
    assert sf.patch(f"{V}/sobjects/Lead/{other}", json={"Title": "CEO"}).status_code == 204
    assert owner(sf, "Lead", other) == queue


def test_the_rule_wins_over_an_owner_the_request_sets(sf: httpx.Client) -> None:
    [queue] = ids(sf, "SELECT Id FROM Group WHERE Name = 'EMEA Leads'")
    [jane] = ids(sf, "SELECT Id FROM User WHERE Username = 'jane@example.com'")
    record = lead(sf, Country="FR", OwnerId=jane)
    assert owner(sf, "Lead", record) == queue
    kept = lead(sf, {"Sforce-Auto-Assign": "FALSE"}, Country="FR", OwnerId=jane)
    assert owner(sf, "Lead", kept) == jane


def test_a_rule_id_header_runs_that_rule_even_inactive(sf: httpx.Client) -> None:
    [jane] = ids(sf, "SELECT Id FROM User WHERE Username = 'jane@example.com'")
    [old] = ids(sf, "SELECT Id FROM AssignmentRule WHERE Name = 'Old Routing' AND Active = false")
    record = lead(sf, {"Sforce-Auto-Assign": old}, Country="FR")
    assert owner(sf, "Lead", record) == jane
    r = sf.post(
        f"{V}/sobjects/Lead/", json={"LastName": "X", "Company": "Y"}, headers={"Sforce-Auto-Assign": "bogus"}
    )
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "MALFORMED_ID"


def test_collections_upsert_runs_the_rule(sf: httpx.Client) -> None:
    [queue] = ids(sf, "SELECT Id FROM Group WHERE Name = 'EMEA Leads'")
    body = {
        "records": [
            {
                "attributes": {"type": "Lead"},
                "External_Id__c": "L1",
                "LastName": "A",
                "Company": "B",
                "Country": "DE",
            }
        ]
    }
    [res] = sf.patch(f"{V}/composite/sobjects/Lead/External_Id__c", json=body).json()
    assert res["success"] and owner(sf, "Lead", res["id"]) == queue


def test_account_rules_run_through_rest_only(sf: httpx.Client) -> None:
    [jane] = ids(sf, "SELECT Id FROM User WHERE Username = 'jane@example.com'")
    r = sf.post(f"{V}/sobjects/Account/", json={"Name": "Acme", "Rating": "Hot"})
    assert owner(sf, "Account", r.json()["id"]) == jane
    # Account rules are territory rules: no AssignmentRule record, and a Bulk job cannot name them
    assert ids(sf, "SELECT Id FROM AssignmentRule WHERE Name = 'Key Accounts'") == []
    job = sf.post(J, json={"object": "Account", "operation": "insert", "assignmentRuleId": jane})
    assert job.status_code == 400 and job.json()[0]["errorCode"] == "INVALIDJOB"


def test_bulk_assigns_only_when_the_job_names_a_rule(sf: httpx.Client) -> None:
    [queue] = ids(sf, "SELECT Id FROM Group WHERE Name = 'EMEA Leads'")
    [rule] = ids(sf, "SELECT Id FROM AssignmentRule WHERE SobjectType = 'Lead' AND Active = true")
    data = "LastName,Company,Country\nA,B,FR\n"
    run_job(sf, {"object": "Lead", "operation": "insert"}, data)
    _, info = run_job(sf, {"object": "Lead", "operation": "insert", "assignmentRuleId": rule}, data)
    assert info["assignmentRuleId"] == rule and info["numberRecordsFailed"] == 0
    owners = sorted(
        r["OwnerId"] for r in sf.get(f"{V}/query", params={"q": "SELECT OwnerId FROM Lead"}).json()["records"]
    )
    assert owners == sorted([DEFAULT_USER_ID, queue])
    bad = sf.post(J, json={"object": "Lead", "operation": "insert", "assignmentRuleId": "01Q000000000000AAA"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALIDJOB"


def test_org_file_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "queues:\n"
        "  - {name: Support}\n"
        "assignment_rules:\n"
        "  - {name: A, object: Lead, entries: [{owner: nobody@example.com}]}\n"
        "  - {name: B, object: Account, entries: [{queue: Support}]}\n"
        "  - {name: C, object: Contact, entries: [{owner: admin@example.com}]}\n"
        "  - {name: D, object: Case, entries: [{when: {Nope: 1}, owner: admin@example.com}]}\n"
    )
    with pytest.raises(OrgFileError) as exc:
        load_org_file(path)
    assert exc.value.keys == [
        "assignment_rules[0].entries[0].owner",
        "assignment_rules[0].entries",
        "assignment_rules[1].entries[0].queue",
        "assignment_rules[1].entries",
        "assignment_rules[2].object",
        "assignment_rules[3].entries[0].when",
    ]
