"""The dry run of a sync with lookups, owners and constants: what ``sfsync plan`` shows, then the run.

A Lead sync from a DuckDB warehouse into the in-process emulator: a lookup written in the long form, an
owner found by e-mail (a known user, an unknown one), a constant. The plan lists each mapping for what it
is, refuses the row whose owner is unknown before anything is sent, and the run writes what it planned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import yaml

from sfsync.config import load_project
from sfsync.emulator.metadata.schema import DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD
from sfsync.state import StateStore
from sfsync.sync.engine import RunOptions, SyncSession
from tests.plugins.emulator import InProcessEmulator

ENV = {"SF_SECRET": DEFAULT_CLIENT_SECRET, "SF_PASSWORD": DEFAULT_PASSWORD}


def _session(tmp_path: Path, emulator: InProcessEmulator, mappings: dict[str, Any]) -> SyncSession:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute(
            "CREATE TABLE leads AS SELECT * FROM (VALUES "
            "('L1', 'Lee', 'Acme', 'c1@example.com', 'ADMIN@example.com'), "
            "('L2', 'Ray', 'Globex', 'c1@example.com', 'ghost@example.com'), "
            "('L3', 'Kim', 'Initech', NULL, NULL)) t(id, last, company, converted_email, owner_email)"
        )
    project = {
        "version": 1,
        "sources": {"wh": {"type": "duckdb", "path": "wh.duckdb"}},
        "models": {"leads": {"source": "wh", "kind": "user", "primary_key": "id", "table": "leads"}},
        "destinations": {
            "org": {
                "type": "salesforce",
                "login_url": emulator.base_url,
                "auth": {
                    "flow": "password",
                    "client_id": "sfsync-demo-client",
                    "client_secret": "${SF_SECRET}",
                    "username": "admin@example.com",
                    "password": "${SF_PASSWORD}",
                },
            }
        },
        "syncs": {
            "leads": {
                "from": "leads",
                "to": "org",
                "object": "Contact",
                "mode": "upsert",
                "api": "rest",
                "object_id": {"column": "id", "field": "External_Id__c"},
                "mappings": mappings,
            }
        },
    }
    (tmp_path / "sfsync.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    config = load_project(tmp_path / "sfsync.yml", environ=ENV)
    return SyncSession(config, StateStore.open(tmp_path / ".sfsync"), transport=emulator.transport)


def test_plan_shows_lookups_owners_and_constants_and_the_run_writes_them(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    boss = emulator.org.create("Contact", [{"LastName": "Boss", "Email": "c1@example.com"}])[0].id
    session = _session(
        tmp_path,
        emulator,
        {
            "last": "LastName",
            "converted_email": {"field": "ReportsToId", "by": "Email"},  # long form of ReportsTo.Email
            "owner_email": {"owner": "email"},
            "LeadSource": {"value": "Partner Referral"},
        },
    )
    try:
        plan = session.plan("leads")
        assert plan.mappings == (
            "last → LastName",
            "converted_email → ReportsToId by Email (lookup)",
            "owner_email → OwnerId (owner by email)",
            "LeadSource = 'Partner Referral' (constant)",
        )
        assert (plan.to_send, plan.refused) == (2, 1)  # L2's owner is nobody
        refused = plan.refused_rows().to_pylist()
        assert [(r["primary_key"], r["error_code"]) for r in refused] == [
            ("L2", "INVALID_CROSS_REFERENCE_KEY")
        ]
        assert "owner 'ghost@example.com': no active user has this e-mail" in refused[0]["message"]
        first = next(s for s in plan.samples if s["primary_key"] == "L1")
        assert first["fields"]["ReportsTo.Email"] == "c1@example.com"
        assert first["fields"]["OwnerId"] == emulator.config.users[0].id  # the e-mail resolved to the user
        assert first["fields"]["LeadSource"] == "Partner Referral"

        result = session.run("leads", RunOptions())
        assert (result.counts.created, result.counts.rejected) == (2, 1)
        rows = emulator.org.query(
            "SELECT External_Id__c, ReportsToId, OwnerId, LeadSource FROM Contact "
            "WHERE External_Id__c != null ORDER BY External_Id__c"
        ).records
        assert [(r["External_Id__c"], r["ReportsToId"], r["LeadSource"]) for r in rows] == [
            ("L1", boss, "Partner Referral"),
            ("L3", None, "Partner Referral"),
        ]
    finally:
        session.close()
        session.store.close()
