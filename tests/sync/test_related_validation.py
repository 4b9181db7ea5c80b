"""Broken related-record mappings: each is refused by ``sfsync check`` and ``sfsync run`` with exit code 2,
the problem named (sync, column, field, how to fix it), and nothing written to the org.

Run end to end: the CLI, a DuckDB warehouse and the emulator over a real socket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import yaml
from typer.testing import CliRunner

import sfsync.cli.project_cmd
import sfsync.cli.run_cmd  # noqa: F401  (registers run)
from sfsync.cli._app import app
from sfsync.emulator.metadata.fieldkit import fld
from sfsync.emulator.metadata.model import OrgConfig, RecordTypeDef
from sfsync.errors import ConfigError

WAREHOUSE = (
    "create table t as select 'P' || i as id, 'L' || i as last_name, 'C-' || i as company_id, i as n, "
    "'p' || i || '@example.com' as email, 'Support' as kind, 'admin@example.com' as rep, "
    "'Lead ' || i as company from range(3) r(i)"
)
CONTACT = {"object": "Contact", "mode": "upsert", "object_id": {"column": "id", "field": "External_Id__c"}}
LEAD = {"object": "Lead", "mode": "upsert", "object_id": {"column": "id", "field": "External_Id__c"}}
ACCOUNT = {"object": "Account", "mode": "upsert", "object_id": {"column": "id", "field": "External_Id__c"}}

# (id, syncs {name: (model, spec)}, fragments every one of which the output must contain)
CASES: list[tuple[str, dict[str, tuple[str, dict[str, Any]]], list[str]]] = [
    (
        "plain-key-to-reference",
        {"s": ("people", {**CONTACT, "mappings": {"last_name": "LastName", "company_id": "AccountId"}})},
        ["AccountId takes a Salesforce record id of Account", "'C-0'", "company_id: Account.External_Id__c"],
    ),
    (
        "unknown-relationship",
        {
            "s": (
                "people",
                {**CONTACT, "mappings": {"last_name": "LastName", "company_id": "Acount.External_Id__c"}},
            )
        },
        ["Contact has no relationship 'Acount'", "did you mean 'Account'"],
    ),
    (
        "parent-field-not-indexed",
        {"s": ("people", {**CONTACT, "mappings": {"last_name": "LastName", "company_id": "Account.Name"}})},
        ["Account.Name is not indexed", "External_Id__c"],
    ),
    (
        "unknown-parent-field",
        {
            "s": (
                "people",
                {**CONTACT, "mappings": {"last_name": "LastName", "company_id": "Account.Ext_Id__c"}},
            )
        },
        ["Account has no field 'Ext_Id__c'", "did you mean 'External_Id__c'"],
    ),
    (
        "polymorphic-without-object",
        {
            "s": (
                "people",
                {
                    **LEAD,
                    "mappings": {"last_name": "LastName", "company": "Company", "rep": "Owner.Username"},
                },
            )
        },
        ["Owner is polymorphic (Group, User): name the parent object", "User:Owner.Username"],
    ),
    (
        "object-on-single-target",
        {
            "s": (
                "people",
                {
                    **CONTACT,
                    "mappings": {"last_name": "LastName", "company_id": "Account:Account.External_Id__c"},
                },
            )
        },
        ["Account refers to Account only", "write Account.External_Id__c"],
    ),
    (
        "object-not-referred-to",
        {
            "s": (
                "people",
                {
                    **LEAD,
                    "mappings": {"last_name": "LastName", "company": "Company", "rep": "Contact:Owner.Email"},
                },
            )
        },
        ["Owner refers to Group, User, not Contact"],
    ),
    (
        "column-type-cannot-feed-parent-field",
        {"s": ("people", {**CONTACT, "mappings": {"last_name": "LastName", "n": "Account.External_Id__c"}})},
        ["column type integer cannot feed field type string", "parent field Account.External_Id__c"],
    ),
    (
        "reference-not-createable",
        {
            "s": (
                "people",
                {
                    **CONTACT,
                    "mappings": {"last_name": "LastName", "company_id": "MasterRecord.External_Id__c"},
                },
            )
        },
        ["field MasterRecordId of Contact is not createable"],
    ),
    (
        "reference-written-twice",
        {
            "s": (
                "people",
                {
                    **CONTACT,
                    "mappings": {
                        "last_name": "LastName",
                        "company_id": "Account.External_Id__c",
                        "email": "AccountId",
                    },
                },
            )
        },
        ["field AccountId is written by 2 columns (company_id, email)"],
    ),
    (
        "unknown-record-type",
        {"s": ("companies", {**ACCOUNT, "record_type": "Partner", "mappings": {"last_name": "Name"}})},
        ["Account has no active record type 'Partner'", "record types of Account: Customer"],
    ),
    (
        "record-type-by-name",
        {"s": ("companies", {**ACCOUNT, "mappings": {"last_name": "Name", "kind": "RecordType.Name"}})},
        ["record types are looked up by DeveloperName, not Name", "kind: RecordType.DeveloperName"],
    ),
    (
        "record-types-on-an-object-without",
        {
            "s": (
                "people",
                {**CONTACT, "mappings": {"last_name": "LastName", "kind": "RecordType.DeveloperName"}},
            )
        },
        ["Contact has no relationship 'RecordType'"],
    ),
    (
        "queue-owner-on-contact",
        {"s": ("people", {**CONTACT, "mappings": {"last_name": "LastName", "rep": {"owner": "queue"}}})},
        ["queues cannot own Contact records (OwnerId refers to User)"],
    ),
    (
        "constant-of-the-wrong-type",
        {
            "s": (
                "companies",
                {
                    "object": "Contract",
                    "mode": "insert",
                    "mappings": {"company_id": "Account.External_Id__c", "StartDate": {"value": "soon"}},
                },
            )
        },
        ["constant 'soon': value type text cannot feed field type date"],
    ),
    (
        "constant-not-in-restricted-picklist",
        {
            "s": (
                "companies",
                {
                    **ACCOUNT,
                    "mappings": {"last_name": "Name", "BillingGeocodeAccuracy": {"value": "Nowhere"}},
                },
            )
        },
        ["'Nowhere' is not a value of restricted picklist BillingGeocodeAccuracy", "use one of: Address"],
    ),
    (
        "constant-on-unknown-field",
        {"s": ("companies", {**ACCOUNT, "mappings": {"last_name": "Name", "Tier__c": {"value": "Gold"}}})},
        ["Account has no field 'Tier__c'"],
    ),
    (
        "constant-on-a-reference",
        {
            "s": (
                "people",
                {
                    **CONTACT,
                    "mappings": {"last_name": "LastName", "AccountId": {"value": "001000000000000AAA"}},
                },
            )
        },
        ["a constant cannot set reference field AccountId"],
    ),
    (
        "cycle-of-lookups",
        {
            "accounts": (
                "companies",
                {**ACCOUNT, "mappings": {"last_name": "Name", "id": "Primary_Contact__r.External_Id__c"}},
            ),
            "contacts": (
                "people",
                {**CONTACT, "mappings": {"last_name": "LastName", "company_id": "Account.External_Id__c"}},
            ),
        },
        [
            "syncs 'accounts', 'contacts' look each other up in a cycle",
            "accounts (Account) → contacts (Contact)",
        ],
    ),
]


@pytest.fixture
def org(org_config: OrgConfig) -> OrgConfig:
    """The default org plus an Account record type and a lookup from Account to Contact."""
    account = org_config.objects["Account"]
    account.record_types.append(
        RecordTypeDef(id="0128d0000000001AAA", developer_name="Customer", label="Customer")
    )
    account.fields["RecordTypeId"] = fld(
        "RecordTypeId", "reference", 18, "", ref="RecordType", rel="RecordType"
    )
    account.fields["Primary_Contact__c"] = fld("Primary_Contact__c", "reference", 18, "custom", ref="Contact")
    return org_config


def _project(tmp_path: Path, url: str, syncs: dict[str, tuple[str, dict[str, Any]]]) -> Path:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(WAREHOUSE)
    project = {
        "version": 1,
        "sources": {"w": {"type": "duckdb", "path": "w.duckdb"}},
        "models": {
            "people": {"source": "w", "kind": "user", "primary_key": "id", "table": "t"},
            "companies": {"source": "w", "kind": "custom", "primary_key": "id", "table": "t"},
        },
        "destinations": {
            "sf": {
                "type": "salesforce",
                "login_url": url,
                "auth": {
                    "flow": "password",
                    "client_id": "sfsync-demo-client",
                    "client_secret": "${SF_SECRET}",
                    "username": "admin@example.com",
                    "password": "${SF_PASSWORD}",
                },
            }
        },
        "syncs": {name: {"from": model, "to": "sf", **spec} for name, (model, spec) in syncs.items()},
    }
    path = tmp_path / "sfsync.yml"
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    (tmp_path / ".env").write_text("SF_SECRET=sfsync-demo-secret\nSF_PASSWORD=sfsync-demo\n")
    return path


@pytest.mark.parametrize(("syncs", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_related_mapping_exits_2_and_writes_nothing(
    tmp_path: Path,
    org: OrgConfig,
    live_emulator: Any,
    syncs: dict[str, tuple[str, dict[str, Any]]],
    fragments: list[str],
) -> None:
    path = _project(tmp_path, live_emulator.url, syncs)
    runner = CliRunner()
    checked = runner.invoke(app, ["check", "--project", str(path)], terminal_width=400)
    assert checked.exit_code == 2, checked.output
    text = " ".join(checked.output.split())
    for fragment in fragments:
        assert fragment in text, f"`sfsync check` does not say {fragment!r}:\n{checked.output}"
    ran = runner.invoke(app, ["run", *syncs, "--project", str(path)], terminal_width=400)
    # the CLI's error handler (sfsync.cli._app.main) exits with the error's code: 2 for a ConfigError
    assert isinstance(ran.exception, ConfigError) and ran.exception.exit_code == 2, ran.output
    said = " ".join(ran.exception.full_text().split())
    assert all(f in said for f in fragments if "cycle" not in f and "→" not in f), said
    with httpx.Client(
        base_url=live_emulator.url, headers={"Authorization": f"Bearer {live_emulator.token()}"}
    ) as h:
        for obj in ("Account", "Contact", "Lead", "Contract", "Case"):
            r = h.get("/services/data/v62.0/query", params={"q": f"SELECT COUNT() FROM {obj}"})
            assert r.json()["totalSize"] == 0, f"{obj} records were written"


def test_a_column_of_record_ids_may_feed_a_reference(
    tmp_path: Path, org: OrgConfig, live_emulator: Any
) -> None:
    """``company_id: AccountId`` is fine when the column holds Account ids (15 or 18 characters)."""
    with httpx.Client(
        base_url=live_emulator.url, headers={"Authorization": f"Bearer {live_emulator.token()}"}
    ) as h:
        acc = h.post("/services/data/v62.0/sobjects/Account/", json={"Name": "Acme"}).json()["id"]
    syncs = {"s": ("people", {**CONTACT, "mappings": {"last_name": "LastName", "company_id": "AccountId"}})}
    path = _project(tmp_path, live_emulator.url, syncs)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("update t set company_id = ? where id <> 'P0'", [acc])
        con.execute("update t set company_id = ? where id = 'P0'", [acc[:15]])
    checked = CliRunner().invoke(app, ["check", "--project", str(path)], terminal_width=400)
    assert checked.exit_code == 0, checked.output
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:  # a Contact id is not an Account id
        con.execute("update t set company_id = '003000000000001AAA' where id = 'P1'")
    checked = CliRunner().invoke(app, ["check", "--project", str(path)], terminal_width=400)
    assert checked.exit_code == 2 and "not a 15/18-character id of Account" in " ".join(
        checked.output.split()
    )
