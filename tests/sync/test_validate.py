"""Mapping validation against describe dicts (docs/salesforce-facts.md#describe), ``check`` end to end."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from typer.testing import CliRunner

import sfsync.cli.project_cmd  # noqa: F401  (registers init/check/describe)
from sfsync.cli._app import app
from sfsync.config import Project
from sfsync.errors import ConfigError, SalesforceConfigError, SfsyncError
from sfsync.sources import LogicalType
from sfsync.sync.check import check_project
from sfsync.sync.validate import COMPATIBLE, Problem, required_on_create, validate_sync

L = LogicalType


def fld(
    name: str,
    type_: str,
    *,
    create: bool = True,
    update: bool = True,
    nillable: bool = True,
    defaulted: bool = False,
    external: bool = False,
    id_lookup: bool = False,
) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "createable": create,
        "updateable": update,
        "nillable": nillable,
        "defaultedOnCreate": defaulted,
        "externalId": external,
        "idLookup": id_lookup,
    }


SYSTEM = [
    fld("Id", "id", create=False, update=False, nillable=False, defaulted=True, id_lookup=True),
    fld("CreatedDate", "datetime", create=False, update=False, nillable=False, defaulted=True),
    fld("OwnerId", "reference", nillable=False, defaulted=True),
    fld("External_Id__c", "string", external=True, id_lookup=True),
    fld("Legacy_Key__c", "string"),
    fld("Description", "textarea"),
]
DESCRIBES: dict[str, dict[str, Any]] = {
    "Contact": {
        "name": "Contact",
        "fields": [
            *SYSTEM,
            fld("LastName", "string", nillable=False),
            fld("FirstName", "string"),
            fld("Email", "email"),
            fld("Birthdate", "date"),
            fld("AccountId", "reference"),
            fld("HasOptedOutOfEmail", "boolean", nillable=False, defaulted=True),
            fld("Name", "string", create=False, update=False),
            fld("Wake_Time__c", "time"),
            fld("Score__c", "double"),
        ],
    },
    "Lead": {
        "name": "Lead",
        "fields": [
            *SYSTEM,
            fld("LastName", "string", nillable=False),
            fld("Company", "string", nillable=False),
            fld("Status", "picklist", nillable=False, defaulted=True),
            fld("Email", "email"),
        ],
    },
    "Account": {
        "name": "Account",
        "fields": [
            *SYSTEM,
            fld("Name", "string", nillable=False),
            fld("NumberOfEmployees", "int"),
            fld("AnnualRevenue", "currency"),
            fld("Website", "url"),
            fld("Signed_At__c", "datetime"),
        ],
    },
    "Case": {
        "name": "Case",
        "fields": [
            *SYSTEM,
            fld("CaseNumber", "string", create=False, update=False, id_lookup=True),
            fld("Subject", "string"),
        ],
    },
}
COLUMNS: dict[str, LogicalType] = {
    "customer_id": L.TEXT,
    "email": L.TEXT,
    "first_name": L.TEXT,
    "last_name": L.TEXT,
    "company": L.TEXT,
    "birthdate": L.DATE,
    "signed_up": L.TIMESTAMP,
    "ltv": L.DECIMAL,
    "employees": L.INTEGER,
    "is_vip": L.BOOLEAN,
    "score": L.FLOAT,
    "wake": L.TIME,
    "blob": L.OTHER,
    "case_number": L.TEXT,
}


def project(
    obj: str,
    mode: str,
    mappings: dict[str, str],
    object_id: dict[str, str] | None = None,
    kind: str = "user",
    primary_key: str = "customer_id",
) -> Project:
    sync: dict[str, Any] = {"from": "m", "to": "sf", "object": obj, "mode": mode, "mappings": mappings}
    if object_id is not None:
        sync["object_id"] = object_id
    return Project.model_validate(
        {
            "version": 1,
            "sources": {"w": {"type": "duckdb", "path": "w.duckdb"}},
            "models": {"m": {"source": "w", "kind": kind, "primary_key": primary_key, "table": "t"}},
            "destinations": {
                "sf": {
                    "type": "salesforce",
                    "login_url": "http://127.0.0.1:8642",
                    "auth": {"flow": "access_token", "access_token": "x"},
                    "instance_url": "http://127.0.0.1:8642",
                }
            },
            "syncs": {"s": sync},
        }
    )


EXT = {"column": "customer_id", "field": "External_Id__c"}
OK_CONTACT = {"last_name": "LastName", "email": "Email"}

# (id, object, mode, mappings, object_id, kind, expected column, expected field, message fragment)
CASES: list[tuple[str, str, str, dict[str, str], dict[str, str] | None, str, str | None, str | None, str]] = [
    (
        "contact-needs-user-model",
        "Contact",
        "upsert",
        OK_CONTACT,
        EXT,
        "custom",
        None,
        None,
        "Contact records must come from a user model",
    ),
    (
        "lead-needs-user-model",
        "Lead",
        "insert",
        {"last_name": "LastName", "company": "Company"},
        None,
        "event",
        None,
        None,
        "must come from a user model, but 'm' is a event model",
    ),
    (
        "account-needs-custom-model",
        "Account",
        "insert",
        {"company": "Name"},
        None,
        "user",
        None,
        None,
        "Account records must come from a custom model",
    ),
    (
        "case-needs-custom-model",
        "Case",
        "insert",
        {"company": "Subject"},
        None,
        "event",
        None,
        None,
        "must come from a custom model",
    ),
    (
        "object-id-column-missing",
        "Contact",
        "upsert",
        OK_CONTACT,
        {"column": "cust_id", "field": "External_Id__c"},
        "user",
        "cust_id",
        None,
        "object_id column 'cust_id' is not a column of model 'm'",
    ),
    (
        "object-id-field-not-external",
        "Contact",
        "upsert",
        OK_CONTACT,
        {"column": "customer_id", "field": "Legacy_Key__c"},
        "user",
        "customer_id",
        "Legacy_Key__c",
        "neither Id nor an external id",
    ),
    (
        "object-id-field-missing",
        "Contact",
        "update",
        OK_CONTACT,
        {"column": "customer_id", "field": "Ext__c"},
        "user",
        "customer_id",
        "Ext__c",
        "Contact has no field 'Ext__c'",
    ),
    (
        "insert-cannot-write-id",
        "Contact",
        "insert",
        OK_CONTACT,
        {"column": "customer_id", "field": "Id"},
        "user",
        "customer_id",
        "Id",
        "mode insert creates records, so it cannot write Id",
    ),
    (
        "upsert-by-non-createable-id-lookup",
        "Case",
        "upsert",
        {"company": "Subject"},
        {"column": "case_number", "field": "CaseNumber"},
        "custom",
        "case_number",
        "CaseNumber",
        "not createable",
    ),
    (
        "object-id-type",
        "Account",
        "update",
        {"company": "Name"},
        {"column": "employees", "field": "External_Id__c"},
        "custom",
        "employees",
        "External_Id__c",
        "column type integer cannot feed field type string",
    ),
    (
        "mapped-column-missing",
        "Contact",
        "upsert",
        {**OK_CONTACT, "emial": "FirstName"},
        EXT,
        "user",
        "emial",
        None,
        "mapped column 'emial' is not a column of model 'm'",
    ),
    (
        "mapped-field-missing",
        "Contact",
        "upsert",
        {**OK_CONTACT, "first_name": "FirstNam"},
        EXT,
        "user",
        "first_name",
        "FirstNam",
        "sfsync never creates fields",
    ),
    (
        "field-not-createable",
        "Contact",
        "insert",
        {**OK_CONTACT, "first_name": "Name"},
        None,
        "user",
        "first_name",
        "Name",
        "not createable, and mode insert creates records",
    ),
    (
        "field-not-updateable",
        "Contact",
        "update",
        {**OK_CONTACT, "signed_up": "CreatedDate"},
        EXT,
        "user",
        "signed_up",
        "CreatedDate",
        "not updateable, and mode update updates records",
    ),
    (
        "date-to-email",
        "Contact",
        "upsert",
        {**OK_CONTACT, "birthdate": "FirstName"},
        EXT,
        "user",
        "birthdate",
        "FirstName",
        "column type date cannot feed field type string",
    ),
    (
        "timestamp-to-date",
        "Contact",
        "upsert",
        {**OK_CONTACT, "signed_up": "Birthdate"},
        EXT,
        "user",
        "signed_up",
        "Birthdate",
        "column type timestamp cannot feed field type date",
    ),
    (
        "decimal-to-int",
        "Account",
        "upsert",
        {"company": "Name", "ltv": "NumberOfEmployees"},
        EXT,
        "custom",
        "ltv",
        "NumberOfEmployees",
        "column type decimal cannot feed field type int",
    ),
    (
        "boolean-to-string",
        "Contact",
        "upsert",
        {**OK_CONTACT, "is_vip": "FirstName"},
        EXT,
        "user",
        "is_vip",
        "FirstName",
        "column type boolean cannot feed field type string",
    ),
    (
        "text-to-boolean",
        "Contact",
        "upsert",
        {**OK_CONTACT, "first_name": "HasOptedOutOfEmail"},
        EXT,
        "user",
        "first_name",
        "HasOptedOutOfEmail",
        "column type text cannot feed field type boolean",
    ),
    (
        "float-to-int",
        "Account",
        "insert",
        {"company": "Name", "score": "NumberOfEmployees"},
        None,
        "custom",
        "score",
        "NumberOfEmployees",
        "column type float cannot feed field type int",
    ),
    (
        "other-to-textarea",
        "Contact",
        "upsert",
        {**OK_CONTACT, "blob": "Description"},
        EXT,
        "user",
        "blob",
        "Description",
        "column type other cannot feed field type textarea",
    ),
    (
        "time-to-datetime",
        "Account",
        "insert",
        {"company": "Name", "wake": "Signed_At__c"},
        None,
        "custom",
        "wake",
        "Signed_At__c",
        "column type time cannot feed field type datetime",
    ),
    (
        "contact-last-name-required",
        "Contact",
        "upsert",
        {"email": "Email"},
        EXT,
        "user",
        None,
        "LastName",
        "Contact requires LastName to create a record",
    ),
    (
        "lead-company-required",
        "Lead",
        "insert",
        {"last_name": "LastName"},
        None,
        "user",
        None,
        "Company",
        "Lead requires Company to create a record",
    ),
    (
        "field-mapped-twice",
        "Contact",
        "upsert",
        {**OK_CONTACT, "first_name": "email"},
        EXT,
        "user",
        None,
        "Email",
        "field Email is written by 2 columns (email, first_name)",
    ),
    (
        "object-id-field-also-mapped",
        "Contact",
        "upsert",
        {**OK_CONTACT, "email": "External_Id__c"},
        EXT,
        "user",
        None,
        "External_Id__c",
        "field External_Id__c is written by 2 columns (customer_id, email)",
    ),
]


@pytest.mark.parametrize(
    ("obj", "mode", "mappings", "object_id", "kind", "column", "field", "fragment"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_broken_mapping_reports_the_exact_problem(
    obj: str,
    mode: str,
    mappings: dict[str, str],
    object_id: dict[str, str] | None,
    kind: str,
    column: str | None,
    field: str | None,
    fragment: str,
) -> None:
    problems = validate_sync(project(obj, mode, mappings, object_id, kind), "s", DESCRIBES[obj], COLUMNS)
    matching = [p for p in problems if p.column == column and p.field == field and fragment in p.message]
    assert matching, f"expected ({column}, {field}) …{fragment}… among:\n" + "\n".join(map(str, problems))
    p = matching[0]
    assert p.sync == "s" and p.hint, "every problem says how to fix it"
    assert str(p).startswith("sync 's'")


def test_type_mismatch_names_both_types_and_the_compatible_ones() -> None:
    [p] = validate_sync(
        project("Contact", "upsert", {"last_name": "LastName", "birthdate": "Email"}, EXT),
        "s",
        DESCRIBES["Contact"],
        COLUMNS,
    )
    assert (p.column, p.field, p.column_type, p.field_type) == ("birthdate", "Email", "date", "email")
    assert p.hint is not None and "a date column feeds only date" in p.hint and "takes text columns" in p.hint


def test_close_names_are_suggested() -> None:
    problems = validate_sync(
        project("Contact", "upsert", {**OK_CONTACT, "Email_Addr": "Emial"}, EXT),
        "s",
        DESCRIBES["Contact"],
        {**COLUMNS, "email_addr": L.TEXT},
    )
    hints = " ".join(p.hint or "" for p in problems)
    assert "did you mean 'email_addr'" in hints and "did you mean 'Email'" in hints


def test_primary_key_must_be_a_model_column() -> None:
    problems = validate_sync(
        project("Contact", "upsert", OK_CONTACT, EXT, primary_key="pk"), "s", DESCRIBES["Contact"], COLUMNS
    )
    assert [(p.column, p.message) for p in problems] == [
        ("pk", "primary key column 'pk' is not a column of model 'm'")
    ]


@pytest.mark.parametrize(
    ("obj", "mode", "mappings", "object_id", "kind"),
    [
        (
            "Contact",
            "upsert",
            {
                **OK_CONTACT,
                "birthdate": "Birthdate",
                "is_vip": "HasOptedOutOfEmail",
                "wake": "Wake_Time__c",
                "employees": "Score__c",
                "company": "AccountId",
            },
            EXT,
            "user",
        ),
        ("Contact", "update", {"email": "Email"}, {"column": "customer_id", "field": "Id"}, "user"),
        ("Lead", "insert", {"last_name": "LastName", "company": "Company"}, None, "user"),
        (
            "Account",
            "upsert",
            {"company": "Name", "employees": "NumberOfEmployees", "ltv": "AnnualRevenue", "email": "Website"},
            EXT,
            "custom",
        ),
        (
            "Case",
            "update",
            {"company": "Subject"},
            {"column": "case_number", "field": "CaseNumber"},
            "custom",
        ),
        ("Account", "insert", {"company": "Name", "signed_up": "Signed_At__c"}, None, "custom"),
    ],
)
def test_valid_mappings_have_no_problems(
    obj: str, mode: str, mappings: dict[str, str], object_id: dict[str, str] | None, kind: str
) -> None:
    assert validate_sync(project(obj, mode, mappings, object_id, kind), "s", DESCRIBES[obj], COLUMNS) == []


def test_compatibility_table_is_designs() -> None:
    assert COMPATIBLE[L.INTEGER] == {"int", "long", "double", "currency", "percent"}
    assert COMPATIBLE[L.DECIMAL] == COMPATIBLE[L.FLOAT] == {"double", "currency", "percent"}
    assert "reference" in COMPATIBLE[L.TEXT] and "encryptedstring" in COMPATIBLE[L.TEXT]
    assert required_on_create(DESCRIBES["Lead"]) == ["LastName", "Company"]


# ---- check_project: sources tested, syncs validated, with a stand-in org that answers describe dicts ----


class DictOrg:
    """Answers describe from dicts; ``down`` destinations fail their login like an unreachable org."""

    def __init__(self, describes: Mapping[str, dict[str, Any]], down: set[str] | None = None) -> None:
        self.describes = describes
        self.down = down or set()

    def test(self, destination: str) -> None:
        if destination in self.down:
            raise SfsyncError(f"destination {destination!r} is unreachable")

    def describe(self, destination: str, object_name: str) -> Mapping[str, Any]:
        if object_name not in self.describes:
            raise SalesforceConfigError(f"object {object_name!r} does not exist in the org")
        return self.describes[object_name]


def _warehouse_project(tmp_path: Path, syncs: dict[str, Any]) -> Project:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(
        "create table people as select 'P' || i as customer_id, 'x' || i as last_name, "
        "'a@b.c' as email, date '2000-01-01' as birthdate from range(10) t(i)"
    )
    con.close()
    return Project.model_validate(
        {
            "version": 1,
            "sources": {
                "w": {"type": "duckdb", "path": str(tmp_path / "w.duckdb")},
                "gone": {"type": "duckdb", "path": str(tmp_path / "gone.duckdb")},
            },
            "models": {
                "people": {"source": "w", "kind": "user", "primary_key": "customer_id", "table": "people"},
                "lost": {"source": "gone", "kind": "user", "primary_key": "id", "table": "t"},
            },
            "destinations": {
                "sf": {
                    "type": "salesforce",
                    "instance_url": "http://127.0.0.1:1",
                    "auth": {"flow": "access_token", "access_token": "x"},
                }
            },
            "syncs": syncs,
        }
    )


def test_check_project_reports_connections_problems_and_unreachable_parts(tmp_path: Path) -> None:
    base = {"from": "people", "to": "sf", "mode": "upsert", "object_id": EXT}
    proj = _warehouse_project(
        tmp_path,
        {
            "good": {**base, "object": "Contact", "mappings": {"last_name": "LastName", "email": "Email"}},
            "bad": {**base, "object": "Contact", "mappings": {"birthdate": "Email"}},
            "no_object": {**base, "object": "Invoice__c", "mappings": {"email": "Email__c"}},
            "lost_source": {**base, "from": "lost", "object": "Contact", "mappings": {"id": "LastName"}},
        },
    )
    report = check_project(proj, None, DictOrg(DESCRIBES))
    assert not report.ok
    assert [(c.kind, c.name, c.ok) for c in report.connections] == [
        ("source", "gone", False),
        ("source", "w", True),
        ("destination", "sf", True),
    ]
    by_name = {s.name: s for s in report.syncs}
    assert by_name["good"].ok
    assert {(p.column, p.field) for p in by_name["bad"].problems} == {
        ("birthdate", "Email"),
        (None, "LastName"),
    }
    assert by_name["no_object"].error is not None and "Invoice__c" in by_name["no_object"].error
    assert by_name["lost_source"].error == "not checked: 'gone' is unreachable"
    data = report.to_dict()
    assert json.loads(json.dumps(data))["syncs"][1]["problems"][0]["sync"] == "bad"
    # only the parts the named syncs use are tested
    only = check_project(proj, ["good"], DictOrg(DESCRIBES))
    assert only.ok and [c.name for c in only.connections] == ["w", "sf"]
    down = check_project(proj, ["good"], DictOrg(DESCRIBES, down={"sf"}))
    assert down.syncs[0].error == "not checked: 'sf' is unreachable"
    with pytest.raises(ConfigError, match="there is no sync 'nope'"):
        check_project(proj, ["nope"], DictOrg(DESCRIBES))


def test_problems_found_against_the_org_name_the_project_file_line(tmp_path: Path) -> None:
    """What `check` finds in describe points at the line of the mapping, like the file's own problems."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create table people as select 'P1' as customer_id, date '2000-01-01' as birthdate")
    con.close()
    (tmp_path / "sfsync.yml").write_text(
        "version: 1\n"
        "sources: {w: {type: duckdb, path: w.duckdb}}\n"
        "models:\n"
        "  people: {source: w, kind: user, primary_key: customer_id, table: people}\n"
        "destinations:\n"
        "  sf: {type: salesforce, instance_url: 'http://127.0.0.1:1', auth: {flow: access_token, "
        "access_token: '${TOKEN}'}}\n"
        "syncs:\n"
        "  bad:\n"
        "    from: people\n"
        "    to: sf\n"
        "    object: Contact\n"
        "    mode: update\n"
        "    object_id: {column: customer_id, field: External_Id__c}\n"
        "    mappings:\n"
        "      birthdate: Email\n"
    )
    from sfsync.config import load_project

    proj = load_project(tmp_path / "sfsync.yml", environ={"TOKEN": "t"})
    report = check_project(proj, None, DictOrg(DESCRIBES))
    [problem] = report.syncs[0].problems
    assert problem.location == "sfsync.yml:15"
    assert str(problem).startswith("sfsync.yml:15: sync 'bad', column 'birthdate', field 'Email':")


def test_problem_to_dict_is_json_ready() -> None:
    p = Problem("s", "m", "h", column="c", field="F", column_type="text", field_type="int")
    assert json.loads(json.dumps(p.to_dict()))["field_type"] == "int"


# ---- end to end: the CLI against the emulator over HTTP --------------------------------------------


def _soql_count(url: str, token: str, obj: str) -> int:
    r = httpx.get(
        f"{url}/services/data/v62.0/query",
        params={"q": f"SELECT COUNT() FROM {obj}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    r.raise_for_status()
    return int(r.json()["totalSize"])


def test_init_demo_then_check_and_describe_against_the_emulator(tmp_path: Path, live_emulator: Any) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["init", str(tmp_path), "--demo", "--json"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "sfsync.yml"
    path.write_text(path.read_text().replace("http://127.0.0.1:8642", live_emulator.url))
    result = runner.invoke(app, ["check", "--project", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and {s["name"] for s in report["syncs"]} == {
        "companies_to_accounts",
        "people_to_contacts",
        "contact_mobile_phones",
        "french_leads",
        "contracts_to_contracts",
        "tickets_to_cases",
    }

    result = runner.invoke(app, ["describe", "Contact", "--project", str(path), "--json"])
    assert result.exit_code == 0, result.output
    fields = {f["name"]: f for f in json.loads(result.stdout)["fields"]}
    assert fields["LastName"]["required"] and fields["External_Id__c"]["external_id"]
    result = runner.invoke(app, ["describe", "Lead", "--project", str(path)])
    assert result.exit_code == 0 and "LastName" in result.stdout

    # break the mapping: check exits 2, names the problem, and nothing was written to the org
    text = path.read_text().replace(
        "first_name: FirstName\n      last_name", "first_name: FirstNam\n      last_name"
    )
    path.write_text(text.replace("birthdate: Birthdate", "birthdate: Email"))
    result = runner.invoke(app, ["check", "people_to_contacts", "--project", str(path)])
    assert result.exit_code == 2, result.output
    out = " ".join(result.stdout.split())
    assert "Contact has no field 'FirstNam'" in out and "column type date cannot feed field type email" in out
    token = live_emulator.token()
    assert all(_soql_count(live_emulator.url, token, o) == 0 for o in ("Contact", "Account", "Lead"))


def test_check_with_a_broken_project_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "sfsync.yml").write_text("version: 1\nsources: {}\n")
    result = CliRunner().invoke(app, ["check", "--project", str(tmp_path / "sfsync.yml")])
    assert isinstance(result.exception, ConfigError) and result.exception.exit_code == 2
    assert "sources" in str(result.exception)


# ---- the same broken mappings, run for real: the run stops before anything reaches the org -------------

E2E_EXTRA_FIELDS = {
    "Contact": [("Legacy_Key__c", "string"), ("Wake_Time__c", "time"), ("Score__c", "double")],
    "Account": [("Legacy_Key__c", "string"), ("Signed_At__c", "datetime")],
}
WAREHOUSE_SQL = (
    "create table t as select 'C' || i as customer_id, 'a' || i || '@example.com' as email, "
    "'F' as first_name, 'L' || i as last_name, 'Acme' as company, date '2000-01-01' as birthdate, "
    "timestamp '2024-01-01 10:00:00' as signed_up, 12.5::decimal(12,2) as ltv, 10 as employees, "
    "true as is_vip, 1.5::double as score, time '07:00:00' as wake, 'X' || i as case_number "
    "from range(5) r(i)"
)


@pytest.fixture
def org_with_fields(org_config: Any, request: pytest.FixtureRequest) -> Any:
    """The in-process emulator, its org extended with the custom fields the cases map to."""
    from sfsync.emulator.metadata.model import FieldDef

    for obj, fields in E2E_EXTRA_FIELDS.items():
        for name, type_ in fields:
            org_config.objects[obj].fields[name] = FieldDef(
                name=name, type=type_, length=255 if type_ == "string" else 0, custom=True
            )
    return request.getfixturevalue("emulator")


@pytest.mark.parametrize(
    ("obj", "mode", "mappings", "object_id", "kind", "column", "field", "fragment"),
    [c[1:] for c in CASES if c[0] != "other-to-textarea"],
    ids=[c[0] for c in CASES if c[0] != "other-to-textarea"],
)
def test_broken_mapping_run_writes_nothing_to_the_org(
    tmp_path: Path,
    org_with_fields: Any,
    obj: str,
    mode: str,
    mappings: dict[str, str],
    object_id: dict[str, str] | None,
    kind: str,
    column: str | None,
    field: str | None,
    fragment: str,
) -> None:
    from sfsync.state.store import StateStore
    from sfsync.sync.engine import SyncSession

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(WAREHOUSE_SQL)
    con.close()
    sync: dict[str, Any] = {"from": "m", "to": "sf", "object": obj, "mode": mode, "mappings": mappings}
    if object_id is not None:
        sync["object_id"] = object_id
    proj = Project.model_validate(
        {
            "version": 1,
            "sources": {"w": {"type": "duckdb", "path": str(tmp_path / "w.duckdb")}},
            "models": {"m": {"source": "w", "kind": kind, "primary_key": "customer_id", "table": "t"}},
            "destinations": {
                "sf": {
                    "type": "salesforce",
                    "login_url": org_with_fields.base_url,
                    "auth": {
                        "flow": "password",
                        "client_id": "sfsync-demo-client",
                        "client_secret": "sfsync-demo-secret",
                        "username": "admin@example.com",
                        "password": "sfsync-demo",
                    },
                }
            },
            "syncs": {"s": sync},
        }
    )
    store = StateStore.open(tmp_path / ".sfsync")
    session = SyncSession(proj, store, transport=org_with_fields.transport)
    try:
        with pytest.raises(ConfigError) as info:
            session.run("s")
    finally:
        session.close()
    assert any(fragment in p for p in info.value.problems), info.value.problems
    with org_with_fields.client() as http:
        for name in ("Contact", "Lead", "Account", "Case"):
            r = http.get("/services/data/v62.0/query", params={"q": f"SELECT COUNT() FROM {name}"})
            assert r.json()["totalSize"] == 0, f"{name} records were written"


def test_check_warns_when_a_column_has_more_decimal_places_than_its_field(
    tmp_path: Path, live_emulator: Any
) -> None:
    """Issue 12, item 12: the demo maps annual_revenue, decimal(18,2), to Account.AnnualRevenue,
    currency(18,0). Salesforce keeps the cents sent through the API but shows them rounded: `check` warns
    (the check still passes), in its JSON and in its text."""
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path), "--demo", "--json"]).exit_code == 0
    path = tmp_path / "sfsync.yml"
    path.write_text(path.read_text().replace("http://127.0.0.1:8642", live_emulator.url))
    result = runner.invoke(app, ["check", "--project", str(path), "--json"])
    assert result.exit_code == 0, result.output
    syncs = {s["name"]: s for s in json.loads(result.stdout)["syncs"]}
    # other warnings (the org's active duplicate rules) may stand beside it: only this one names decimals
    decimals = {n: [w for w in s["warnings"] if "decimal place" in w] for n, s in syncs.items()}
    (warning,) = decimals["companies_to_accounts"]
    assert "'annual_revenue' carries 2 decimal places (decimal128(18, 2))" in warning
    assert "AnnualRevenue is currency(18,0)" in warning and "rounded to 0 decimal places" in warning
    assert all(not w for name, w in decimals.items() if name != "companies_to_accounts")

    text = runner.invoke(app, ["check", "--project", str(path)])
    assert text.exit_code == 0 and "warning" in text.stdout and "AnnualRevenue" in text.stdout
