"""Queues own Leads and Cases: the Group object, its seeded queue, polymorphic Owner in SOQL, and the
org file's ``queues`` section.

Recorded describes (tests/emulator/recorded/) show Lead.OwnerId and Case.OwnerId referencing
``["Group", "User"]`` and Account/Contact/Contract OwnerId referencing ``["User"]`` only. A polymorphic
parent answers as the ``Name`` entity (Salesforce Object Reference, "Name": the owner of a case can be a
user or a queue), its record typed ``Name`` with the url of the real object.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sfsync.emulator.metadata.orgfile import OrgFileError, load_org_file
from sfsync.emulator.metadata.schema import (
    DEFAULT_QUEUE_ID,
    DEFAULT_QUEUE_NAME,
    DEFAULT_USER_ID,
    default_org,
)
from sfsync.emulator.records.org import Org
from tests.plugins.emulator import InProcessEmulator

V = "/services/data/v59.0"
POLL_LIMIT_SECONDS = 60


@pytest.fixture
def sf(emulator: InProcessEmulator) -> httpx.Client:
    return emulator.client()


def _query(sf: httpx.Client, soql: str) -> list[dict[str, Any]]:
    r = sf.get(f"{V}/query", params={"q": soql})
    assert r.status_code == 200, r.text
    records: list[dict[str, Any]] = r.json()["records"]
    return records


def test_the_default_org_has_a_queue(sf: httpx.Client) -> None:
    [queue] = _query(sf, "SELECT Id, Name, DeveloperName, Type, OwnerId FROM Group WHERE Type = 'Queue'")
    assert queue["Id"] == DEFAULT_QUEUE_ID and queue["Name"] == DEFAULT_QUEUE_NAME
    assert queue["DeveloperName"] == "Triage_Queue" and queue["OwnerId"] == DEFAULT_USER_ID
    assert queue["attributes"]["url"] == f"{V}/sobjects/Group/{DEFAULT_QUEUE_ID}"
    r = sf.get(f"{V}/sobjects/Group/describe")
    owner = {f["name"]: f for f in r.json()["fields"]}["OwnerId"]
    assert owner["referenceTo"] == ["Organization", "User"] and not owner["createable"]


def test_a_queue_owns_leads_and_cases_and_soql_reads_owner_through_name(sf: httpx.Client) -> None:
    queued = sf.post(
        f"{V}/sobjects/Lead", json={"LastName": "Queued", "Company": "Q Inc", "OwnerId": DEFAULT_QUEUE_ID}
    )
    mine = sf.post(f"{V}/sobjects/Lead", json={"LastName": "Mine", "Company": "M Inc"})
    case = sf.post(f"{V}/sobjects/Case", json={"Subject": "Help", "OwnerId": DEFAULT_QUEUE_ID})
    assert queued.status_code == mine.status_code == case.status_code == 201, queued.text
    leads = _query(sf, "SELECT LastName, OwnerId, Owner.Name, Owner.Type FROM Lead ORDER BY LastName")
    by_name = {r["LastName"]: r for r in leads}
    q = by_name["Queued"]
    assert q["OwnerId"] == DEFAULT_QUEUE_ID
    assert q["Owner"] == {
        "attributes": {"type": "Name", "url": f"{V}/sobjects/Group/{DEFAULT_QUEUE_ID}"},
        "Name": DEFAULT_QUEUE_NAME,
        "Type": "Queue",
    }
    m = by_name["Mine"]["Owner"]
    assert m["attributes"] == {"type": "Name", "url": f"{V}/sobjects/User/{DEFAULT_USER_ID}"}
    assert m["Type"] == "User" and m["Name"] == "Admin User"
    # filters go through the same Name entity, case-insensitively like SOQL
    [only] = _query(sf, "SELECT Id FROM Case WHERE Owner.Name = 'triage queue'")
    assert only["Id"] == case.json()["id"]
    assert _query(sf, "SELECT Id FROM Lead WHERE Owner.Type = 'User'")[0]["Id"] == mine.json()["id"]


def test_accounts_contacts_and_contracts_are_owned_by_users_only(sf: httpx.Client) -> None:
    r = sf.post(f"{V}/sobjects/Account", json={"Name": "Queued Co", "OwnerId": DEFAULT_QUEUE_ID})
    assert r.status_code == 400
    [error] = r.json()
    assert error["errorCode"] == "INVALID_CROSS_REFERENCE_KEY" and error["fields"] == ["OwnerId"]
    assert _query(sf, "SELECT Id FROM Account") == []


def test_bulk_inserts_cases_owned_by_a_queue(sf: httpx.Client) -> None:
    job = sf.post(
        f"{V}/jobs/ingest", json={"object": "Case", "operation": "insert", "contentType": "CSV"}
    ).json()
    data = f"Subject,OwnerId\nBulk one,{DEFAULT_QUEUE_ID}\nBulk two,{DEFAULT_USER_ID}\n"
    put = sf.put(f"{V}/jobs/ingest/{job['id']}/batches", content=data, headers={"Content-Type": "text/csv"})
    assert put.status_code == 201
    sf.patch(f"{V}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while sf.get(f"{V}/jobs/ingest/{job['id']}").json()["state"] != "JobComplete":
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.02)
    ok = list(csv.DictReader(io.StringIO(sf.get(f"{V}/jobs/ingest/{job['id']}/successfulResults").text)))
    assert len(ok) == 2
    owners = {r["Subject"]: r["Owner"]["Type"] for r in _query(sf, "SELECT Subject, Owner.Type FROM Case")}
    assert owners == {"Bulk one": "Queue", "Bulk two": "User"}


def test_reset_keeps_the_seeded_queue_and_drops_other_groups(emulator: Any, sf: httpx.Client) -> None:
    made = sf.post(f"{V}/sobjects/Group", json={"Name": "Ad hoc", "Type": "Regular"})
    assert made.status_code == 201, made.text
    assert len(_query(sf, "SELECT Id FROM Group")) == 2
    emulator.reset()
    assert [g["Id"] for g in _query(sf, "SELECT Id FROM Group")] == [DEFAULT_QUEUE_ID]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "org.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_org_file_adds_and_changes_queues(tmp_path: Path) -> None:
    config = load_org_file(
        _write(
            tmp_path,
            "queues:\n"
            "  - name: Support Tier 1\n"
            "    email: tier1@example.com\n"
            "  - name: Renamed Triage\n"
            "    developer_name: Triage_Queue\n",
        )
    )
    by_dev = {q.developer_name: q for q in config.queues}
    assert set(by_dev) == {"Triage_Queue", "Support_Tier_1"}
    assert by_dev["Triage_Queue"].id == DEFAULT_QUEUE_ID and by_dev["Triage_Queue"].name == "Renamed Triage"
    tier1 = by_dev["Support_Tier_1"]
    assert tier1.id.startswith("00G") and tier1.id != DEFAULT_QUEUE_ID and tier1.email == "tier1@example.com"
    org = Org(config)
    rows = org.query("SELECT Name, DeveloperName FROM Group WHERE Type = 'Queue' ORDER BY Name").records
    assert [(r["Name"], r["DeveloperName"]) for r in rows] == [
        ("Renamed Triage", "Triage_Queue"),
        ("Support Tier 1", "Support_Tier_1"),
    ]


def test_org_file_queue_problems_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(OrgFileError) as info:
        load_org_file(
            _write(
                tmp_path,
                "queues:\n  - name: ''\n  - name: Ok\n    developer_name: 9bad\n"
                "  - name: Mail\n    email: nope\n  - developer_name: NoName\n",
            )
        )
    assert info.value.keys == [
        "queues[0].name",
        "queues[1].developer_name",
        "queues[2].email",
        "queues[3].name",
    ]
    assert default_org().queues[0].name == DEFAULT_QUEUE_NAME
