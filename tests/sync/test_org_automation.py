"""A project's view of the org's own automation, through the facade and the emulator: ``check`` warnings
and problems for ``assignment_rules``/``duplicate_rules``, the plain-words row message of a duplicate
refusal, Account assignment routed through REST, NaN refused with the field's name, and a rotating
refresh token kept in the state directory across runs."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from sfsync.api import Project
from sfsync.config import load_project
from sfsync.config.project import Sync
from sfsync.emulator.metadata.model import AppDef, OrgConfig, RefreshTokenDef
from sfsync.emulator.metadata.orgfile import load_org_file
from sfsync.emulator.metadata.schema import DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD
from sfsync.errors import ConfigError
from sfsync.sync.automation_check import OrgRules, automation_warnings, maps_owner
from tests.plugins.emulator import InProcessEmulator

ENV = {
    "SF_SECRET": DEFAULT_CLIENT_SECRET,
    "SF_PASSWORD": DEFAULT_PASSWORD,
    "SF_REFRESH": "5Aep-project-token",
}
PASSWORD_AUTH = {
    "flow": "password",
    "client_id": "sfsync-demo-client",
    "client_secret": "${SF_SECRET}",
    "username": "admin@example.com",
    "password": "${SF_PASSWORD}",
}


def project(
    tmp_path: Path,
    emulator: InProcessEmulator,
    syncs: dict[str, dict[str, Any]],
    *,
    rows_sql: str = "SELECT '1' AS id, 'Ann' AS first, 'Lee' AS last, 'ann@acme.example' AS email",
    auth: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Project:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute(f"CREATE OR REPLACE TABLE people AS {rows_sql}")
    doc = {
        "version": 1,
        "sources": {"wh": {"type": "duckdb", "path": "wh.duckdb"}},
        "models": {
            "people": {"source": "wh", "kind": "user", "primary_key": "id", "table": "people"},
            "companies": {"source": "wh", "kind": "custom", "primary_key": "id", "table": "people"},
        },
        "destinations": {
            "org": {
                "type": "salesforce",
                "login_url": emulator.base_url,
                "auth": auth or PASSWORD_AUTH,
                "settings": {"bulk_poll_seconds": 0.05, **(settings or {})},
            }
        },
        "syncs": {name: {"from": "people", "to": "org", **spec} for name, spec in syncs.items()},
    }
    (tmp_path / "sfsync.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    config = load_project(tmp_path / "sfsync.yml", environ=ENV)
    return Project(config, tmp_path / ".sfsync", transport=emulator.transport)


CONTACTS: dict[str, Any] = {
    "object": "Contact",
    "mode": "upsert",
    "object_id": {"column": "id", "field": "External_Id__c"},
    "mappings": {"first": "FirstName", "last": "LastName", "email": "Email"},
}
LEADS = {**CONTACTS, "object": "Lead", "mappings": {"last": "LastName", "email": "Company"}}


def test_check_warns_when_active_duplicate_rules_will_refuse_inserts(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    syncs = {
        "enforced": CONTACTS,
        "allowed": {**CONTACTS, "duplicate_rules": "allow_save"},
        "updates": {**CONTACTS, "mode": "update"},
        "routed": {**LEADS, "assignment_rules": "default"},
    }
    with project(tmp_path, emulator, syncs) as proj:
        report = proj.check()
    warnings = {s.name: s.warnings for s in report.syncs}
    assert report.ok, report.to_dict()
    [enforced] = warnings["enforced"]
    assert "Standard_Contact_Duplicate_Rule" in enforced and "DUPLICATES_DETECTED" in enforced
    assert "allow_save" in enforced
    assert warnings["allowed"] == [] and warnings["updates"] == []
    assert any("no active assignment rule" in w for w in warnings["routed"])
    assert report.to_dict()["syncs"][0]["warnings"] == [enforced]
    assert not (tmp_path / ".sfsync").exists(), "checking creates no state"


def test_settings_that_cannot_work_are_problems(tmp_path: Path, emulator: InProcessEmulator) -> None:
    accounts = {**CONTACTS, "from": "companies", "object": "Account", "mappings": {"last": "Name"}}
    syncs = {
        "contact_rules": {**CONTACTS, "assignment_rules": "default"},
        "account_rule_id": {**accounts, "assignment_rules": "01Q8d0000000001EAA"},
        "account_bulk": {**accounts, "assignment_rules": "default", "api": "bulk"},
        "account_rest": {**accounts, "assignment_rules": "default", "api": "rest"},
    }
    with project(tmp_path, emulator, syncs) as proj:
        report = proj.check()
    problems = {s.name: [str(p) for p in s.problems] for s in report.syncs}
    assert "Contact has no assignment rules" in problems["contact_rules"][0]
    assert "names a Case or Lead rule" in problems["account_rule_id"][0]
    assert "Bulk API 2.0 cannot run Account" in problems["account_bulk"][0]
    assert problems["account_rest"] == []


def test_a_bad_assignment_rules_value_is_refused_when_the_file_loads(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    with pytest.raises(ConfigError) as exc:
        project(tmp_path, emulator, {"s": {**LEADS, "assignment_rules": "yes please"}})
    assert "assignment_rules" in str(exc.value.problems)


def test_a_duplicate_refusal_reads_in_plain_words(tmp_path: Path, emulator: InProcessEmulator) -> None:
    emulator.org.create("Contact", [{"FirstName": "Ann", "LastName": "Lee", "Email": "ann@acme.example"}])
    with project(tmp_path, emulator, {"people": {**CONTACTS, "api": "bulk"}}) as proj:
        result = proj.run("people", warn=False)
        [row] = proj.store.row_results(result.run_id)
    assert row.error_code == "DUPLICATES_DETECTED"
    assert row.message is not None and row.message.startswith("refused as a duplicate")
    assert '"Use one of these records?"' in row.message and "allow_save" in row.message


def test_nan_is_refused_naming_the_field(tmp_path: Path, emulator: InProcessEmulator) -> None:
    sql = "SELECT '1' AS id, 'Acme' AS last, 'nan'::DOUBLE AS score, 'x' AS first, 'e@x.io' AS email"
    syncs = {
        "accounts": {
            **CONTACTS,
            "from": "companies",
            "object": "Account",
            "mappings": {"last": "Name", "score": "AnnualRevenue"},
        }
    }
    with project(tmp_path, emulator, syncs, rows_sql=sql) as proj:
        result = proj.run("accounts", warn=False)
        [row] = proj.store.row_results(result.run_id)
    assert (row.error_code, row.fields) == ("INVALID_NUMBER", ("AnnualRevenue",))
    assert row.message is not None and "AnnualRevenue: nan (column score)" in row.message
    assert emulator.org.query("SELECT COUNT() FROM Account").total_size == 0


class TestAccountAssignment:
    @pytest.fixture
    def org_config(self, tmp_path: Path) -> OrgConfig:
        path = tmp_path / "org.yaml"
        path.write_text(
            "users: [{username: jane@example.com, password: pw}]\n"
            "assignment_rules:\n"
            "  - {name: Accounts, object: Account, entries: [{owner: jane@example.com}]}\n"
        )
        return load_org_file(path)

    def test_account_rules_make_an_auto_sync_use_rest(
        self, tmp_path: Path, emulator: InProcessEmulator
    ) -> None:
        accounts = {
            **CONTACTS,
            "from": "companies",
            "object": "Account",
            "mappings": {"last": "Name"},
            "assignment_rules": "default",
        }
        sql = "SELECT CAST(i AS VARCHAR) AS id, 'Co ' || i AS last FROM range(3) t(i)"
        with project(
            tmp_path, emulator, {"accounts": accounts}, rows_sql=sql, settings={"bulk_threshold": 1}
        ) as proj:
            result = proj.run("accounts", warn=False)
        assert result.api == "rest"  # Bulk would otherwise be chosen: 3 rows >= bulk_threshold 1
        [jane] = [u.id for u in emulator.config.users if u.username == "jane@example.com"]
        owners = {r["OwnerId"] for r in emulator.org.query("SELECT OwnerId FROM Account").records}
        assert owners == {jane}


class TestRotatingRefreshToken:
    @pytest.fixture
    def org_config(self, org_config: OrgConfig) -> OrgConfig:
        org_config.apps.append(AppDef("rotating-app", "rotating-secret", rotate_refresh_tokens=True))
        org_config.refresh_tokens.append(
            RefreshTokenDef("5Aep-project-token", "admin@example.com", "rotating-app")
        )
        return org_config

    def test_runs_keep_the_newest_refresh_token_in_the_state_directory(
        self, tmp_path: Path, emulator: InProcessEmulator
    ) -> None:
        auth = {"flow": "refresh_token", "client_id": "rotating-app", "refresh_token": "${SF_REFRESH}"}
        for n in range(3):  # three runs, each its own Project (as separate processes would be)
            emulator.org.reset()
            with project(tmp_path, emulator, {"people": CONTACTS}, auth=auth) as proj:
                result = proj.run("people", full_resync=True, warn=False)
            assert result.counts.created == 1, f"run {n + 1}"
        stored = tmp_path / ".sfsync" / "tokens" / "org.json"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
        assert "5Aep-project-token" not in stored.read_text()


@pytest.mark.parametrize(
    ("owner", "maps"),
    [
        ({"owner_email": {"owner": "email"}}, True),
        ({"owner_id": "OwnerId"}, True),
        ({"OwnerId": {"value": "00G8d0000000001EAA"}}, True),
        ({"owner_name": "Owner.Username"}, True),
        ({"status": "Status"}, False),
    ],
)
def test_check_warns_that_an_assignment_rule_replaces_a_mapped_owner(
    owner: dict[str, Any], maps: bool
) -> None:
    lead = Sync.model_validate(
        {**LEADS, "from": "people", "to": "org", "mappings": {**LEADS["mappings"], **owner}}
    )
    assert maps_owner(lead) is maps
    routed = lead.model_copy(update={"assignment_rules": "default"})
    warnings = automation_warnings(routed, "Lead", OrgRules(assignment_rule="Lead routing"))
    assert any("replaces the one sent" in w for w in warnings) is maps
    assert automation_warnings(lead, "Lead", OrgRules(assignment_rule="Lead routing")) == []
