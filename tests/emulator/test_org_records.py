"""The record engine through its REST-shaped interface: every per-record rule with a record that breaks it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from sfsync.emulator.metadata import ids
from sfsync.emulator.metadata.model import FieldDef, OrgConfig, SObjectDef
from sfsync.emulator.metadata.schema import DEFAULT_ORG_ID, DEFAULT_USER_ID, default_org
from sfsync.emulator.records.org import Org, OrgError, SaveResult


def config() -> OrgConfig:
    cfg = default_org()
    contact = cfg.objects["Contact"]
    contact.fields["Legacy_Id__c"] = FieldDef(
        "Legacy_Id__c", "string", label="Legacy Id", length=20, external_id=True, custom=True
    )
    contact.fields["Locked_Code__c"] = FieldDef(
        "Locked_Code__c", "string", label="Locked Code", length=10, updateable=False, custom=True
    )
    contact.fields["Last_Seen__c"] = FieldDef("Last_Seen__c", "datetime", label="Last Seen", custom=True)
    return cfg


@pytest.fixture
def org() -> Any:
    o = Org(config())
    yield o
    o.close()


def one(results: list[SaveResult]) -> SaveResult:
    assert len(results) == 1
    return results[0]


def error_of(result: SaveResult) -> tuple[str, str, list[str]]:
    assert not result.success, result
    e = result.errors[0]
    return e.status_code, e.message, e.fields


def rows(org: Org, soql: str, **kw: Any) -> list[dict[str, Any]]:
    return list(org.query(soql, **kw).records)


def new_contact(org: Org, **fields: Any) -> str:
    res = one(org.create("Contact", [{"LastName": "Doe", **fields}]))
    assert res.success, res
    assert res.id is not None
    return res.id


# ---- create: defaults ---------------------------------------------------------------------------------
def test_create_sets_defaults_audit_fields_and_compound_name(org: Org) -> None:
    cid = new_contact(org, FirstName="Jane")
    assert cid.startswith("003") and ids.is_well_formed(cid)
    rec = org.get("Contact", cid)
    assert rec["attributes"] == {"type": "Contact", "url": f"/services/data/v62.0/sobjects/Contact/{cid}"}
    assert rec["Name"] == "Jane Doe"
    assert rec["OwnerId"] == DEFAULT_USER_ID and rec["CreatedById"] == DEFAULT_USER_ID
    assert rec["IsDeleted"] is False and rec["HasOptedOutOfEmail"] is False
    assert rec["CreatedDate"].endswith(".000+0000") and rec["CreatedDate"] == rec["SystemModstamp"]
    lead = one(org.create("Lead", [{"LastName": "L", "Company": "C"}]))
    assert org.get("Lead", str(lead.id), ["Status"])["Status"] == "Open - Not Contacted"


def test_case_numbers_are_autonumbered(org: Org) -> None:
    res = org.create("Case", [{"Subject": "a"}, {"Subject": "b"}])
    numbers = [org.get("Case", str(r.id), ["CaseNumber"])["CaseNumber"] for r in res]
    assert numbers == ["00001000", "00001001"]


# ---- one test per error code --------------------------------------------------------------------------
def test_required_field_missing_lists_every_missing_field(org: Org) -> None:
    assert error_of(one(org.create("Lead", [{"FirstName": "x"}]))) == (
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [LastName, Company]",
        ["LastName", "Company"],
    )


def test_string_too_long(org: Org) -> None:
    code, message, fields = error_of(one(org.create("Contact", [{"LastName": "x" * 81}])))
    assert code == "STRING_TOO_LONG" and fields == ["LastName"]
    assert message == f"Last Name: data value too large: {'x' * 81} (max length=80)"


def test_invalid_email_address(org: Org) -> None:
    assert error_of(one(org.create("Contact", [{"LastName": "x", "Email": "not-an-email"}]))) == (
        "INVALID_EMAIL_ADDRESS",
        "Email: invalid email address: not-an-email",
        ["Email"],
    )


@pytest.mark.parametrize(
    ("obj", "field", "value"),
    [
        ("Account", "NumberOfEmployees", "abc"),
        ("Account", "NumberOfEmployees", 1.5),
        ("Account", "AnnualRevenue", "lots"),
        ("Contact", "Birthdate", "31/01/2024"),
        ("Contact", "Birthdate", "2024-02-30"),
        ("Contact", "Last_Seen__c", "2024-01-31 noon"),
        ("Contact", "DoNotCall", "maybe"),
    ],
)
def test_invalid_type_on_field_in_record(org: Org, obj: str, field: str, value: Any) -> None:
    base = {"Name": "A"} if obj == "Account" else {"LastName": "B"}
    code, message, fields = error_of(one(org.create(obj, [{**base, field: value}])))
    assert code == "INVALID_TYPE_ON_FIELD_IN_RECORD" and fields == [field]
    assert message.endswith(f"value not of required type: {value}")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2024-01-31T10:00:00Z", "2024-01-31T10:00:00.000+0000"),
        ("2024-01-31T10:00:00.123Z", "2024-01-31T10:00:00.000+0000"),
        ("2024-01-31T10:00:00+01:00", "2024-01-31T09:00:00.000+0000"),
        ("2024-01-31T01:30:00-0100", "2024-01-31T02:30:00.000+0000"),
        ("2024-01-01T00:30:00.5+0100", "2023-12-31T23:30:00.000+0000"),
    ],
)
def test_datetimes_are_stored_in_utc(org: Org, given: str, stored: str) -> None:
    cid = new_contact(org, Last_Seen__c=given, Birthdate="1990-05-17")
    rec = org.get("Contact", cid, ["Last_Seen__c", "Birthdate"])
    assert rec["Last_Seen__c"] == stored and rec["Birthdate"] == "1990-05-17"


def test_invalid_or_null_for_restricted_picklist(org: Org) -> None:
    res = one(org.create("Account", [{"Name": "A", "BillingGeocodeAccuracy": "Somewhere"}]))
    assert error_of(res)[0] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert "bad value for restricted picklist field: Somewhere" in error_of(res)[1]
    assert one(org.create("Account", [{"Name": "A", "BillingGeocodeAccuracy": "Street"}])).success


def test_invalid_field_for_insert_update(org: Org) -> None:
    code, _, fields = error_of(one(org.create("Contact", [{"LastName": "x", "Name": "Full Name"}])))
    assert (code, fields) == ("INVALID_FIELD_FOR_INSERT_UPDATE", ["Name"])
    cid = new_contact(org, Locked_Code__c="A1")
    code, message, fields = error_of(one(org.update([{"Id": cid, "Locked_Code__c": "B2"}], obj="Contact")))
    assert (code, fields) == ("INVALID_FIELD_FOR_INSERT_UPDATE", ["Locked_Code__c"])
    assert message.startswith("Unable to create/update fields: Locked_Code__c.")


def test_malformed_id(org: Org) -> None:
    account = one(org.create("Account", [{"Name": "A"}])).id
    assert (
        error_of(one(org.update([{"Id": "nonsense", "LastName": "x"}], obj="Contact")))[0] == "MALFORMED_ID"
    )
    code, message, fields = error_of(one(org.update([{"Id": account, "LastName": "x"}], obj="Contact")))
    assert (code, fields) == ("MALFORMED_ID", ["Id"])
    assert message == f"Contact ID: id value of incorrect type: {account}"
    assert (
        error_of(one(org.create("Contact", [{"LastName": "x", "AccountId": "001abc"}])))[0] == "MALFORMED_ID"
    )


def test_invalid_cross_reference_key(org: Org) -> None:
    missing_account = "001" + "8d" + "0000099999"
    code, _, fields = error_of(one(org.create("Contact", [{"LastName": "x", "AccountId": missing_account}])))
    assert (code, fields) == ("INVALID_CROSS_REFERENCE_KEY", ["AccountId"])
    contact = new_contact(org)
    code, _, fields = error_of(one(org.create("Contact", [{"LastName": "x", "AccountId": contact}])))
    assert (code, fields) == ("INVALID_CROSS_REFERENCE_KEY", ["AccountId"])


def test_duplicate_value_against_the_org_and_within_one_request(org: Org) -> None:
    first = new_contact(org, External_Id__c="EXT-1")
    code, message, fields = error_of(
        one(org.create("Contact", [{"LastName": "x", "External_Id__c": "ext-1"}]))
    )
    assert (code, fields) == ("DUPLICATE_VALUE", [])
    assert message == (
        f"duplicate value found: External_Id__c duplicates value on record with id: {first[:15]}"
    )
    a, b = org.create(
        "Contact", [{"LastName": "a", "External_Id__c": "E2"}, {"LastName": "b", "External_Id__c": "E2"}]
    )
    assert a.success
    assert error_of(b) == (
        "DUPLICATE_VALUE",
        f"duplicate value found: External_Id__c duplicates value on record with id: {str(a.id)[:15]}",
        [],
    )


def test_duplicate_external_id_in_request_and_several_matches(org: Org) -> None:
    res = org.upsert(
        "Contact",
        "External_Id__c",
        [
            {"LastName": "a", "External_Id__c": "K1"},
            {"LastName": "b", "External_Id__c": "k1"},
            {"LastName": "c", "External_Id__c": "K2"},
        ],
    )
    assert [r.success for r in res] == [False, False, True]
    assert error_of(res[0])[0] == "DUPLICATE_EXTERNAL_ID"
    new_contact(org, Legacy_Id__c="L1")
    new_contact(org, Legacy_Id__c="L1")  # not unique: two records may share it
    code, message, fields = error_of(one(org.upsert("Contact", "Legacy_Id__c", [{"Legacy_Id__c": "L1"}])))
    assert (code, fields) == ("DUPLICATE_EXTERNAL_ID", ["Legacy_Id__c"])
    assert "more than one record found for external id field" in message


def test_not_found_on_update_of_a_missing_record(org: Org) -> None:
    missing = ids.normalize("0038d0000099999")
    code, _, _ = error_of(one(org.update([{"Id": missing, "LastName": "x"}], obj="Contact")))
    assert code == "NOT_FOUND"


def test_entity_is_deleted(org: Org) -> None:
    cid = new_contact(org)
    assert one(org.delete([cid])).success
    assert error_of(one(org.update([{"Id": cid, "LastName": "x"}])))[0] == "ENTITY_IS_DELETED"
    assert error_of(one(org.delete([cid])))[0] == "ENTITY_IS_DELETED"
    with pytest.raises(OrgError) as exc:
        org.get("Contact", cid)
    assert exc.value.status == 404


def test_unable_to_lock_row_follows_the_live_fault_settings(org: Org) -> None:
    org.config.faults.lock_row_rate = 1.0
    res = org.create("Contact", [{"LastName": f"n{i}"} for i in range(5)])
    assert {error_of(r)[0] for r in res} == {"UNABLE_TO_LOCK_ROW"}
    org.config.faults.lock_row_rate = 0.5
    org.config.faults.seed = 7
    first = [r.success for r in org.create("Contact", [{"LastName": f"n{i}"} for i in range(40)])]
    assert 0 < sum(first) < 40
    org2 = Org(config())
    org2.config.faults.lock_row_rate = 0.5
    org2.config.faults.seed = 7
    assert [r.success for r in org2.create("Contact", [{"LastName": f"n{i}"} for i in range(40)])] == first
    org.config.faults.lock_row_rate = 0.0
    assert one(org.create("Contact", [{"LastName": "ok"}])).success


def test_unknown_field_and_unknown_object_are_request_errors(org: Org) -> None:
    with pytest.raises(OrgError) as exc:
        org.create("Contact", [{"LastName": "x", "Shoe_Size__c": 42}])
    assert (exc.value.status, exc.value.code) == (400, "INVALID_FIELD")
    assert exc.value.message == "No such column 'Shoe_Size__c' on sobject of type Contact"
    with pytest.raises(OrgError) as exc:
        org.create("Spaceship__c", [{"Name": "x"}])
    assert (exc.value.status, exc.value.code) == (404, "NOT_FOUND")


# ---- all or none, upsert, references --------------------------------------------------------------------
def test_all_or_none_rolls_everything_back(org: Org) -> None:
    res = org.create(
        "Contact", [{"LastName": "good"}, {"FirstName": "bad"}, {"LastName": "good2"}], all_or_none=True
    )
    assert [r.success for r in res] == [False, False, False]
    assert [r.errors[0].status_code for r in res] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "REQUIRED_FIELD_MISSING",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert all(r.id is None for r in res)
    assert org.query("SELECT COUNT() FROM Contact").total_size == 0
    ok = org.create("Contact", [{"LastName": "a"}, {"LastName": "b"}], all_or_none=True)
    assert all(r.success for r in ok) and org.query("SELECT COUNT() FROM Contact").total_size == 2


def test_upsert_creates_then_updates_by_external_id_and_by_id(org: Org) -> None:
    created = one(org.upsert("Contact", "External_Id__c", [{"External_Id__c": "U1", "LastName": "One"}]))
    assert created.success and created.created is True
    updated = one(org.upsert("Contact", "External_Id__c", [{"External_Id__c": "u1", "Title": "CEO"}]))
    assert updated.success and updated.created is False and updated.id == created.id
    rec = org.get("Contact", str(created.id), ["LastName", "Title", "External_Id__c"])
    assert rec == {**rec, "LastName": "One", "Title": "CEO", "External_Id__c": "U1"}
    by_id = one(org.upsert("Contact", "Id", [{"Id": created.id, "Title": "CTO"}]))
    assert by_id.created is False and org.get("Contact", str(created.id), ["Title"])["Title"] == "CTO"


def test_parent_by_external_id_sets_the_reference(org: Org) -> None:
    account = one(org.create("Account", [{"Name": "Acme", "External_Id__c": "ACME"}])).id
    cid = new_contact(org, Account={"External_Id__c": "acme"})
    assert org.get("Contact", cid, ["AccountId"])["AccountId"] == account
    code, message, fields = error_of(
        one(org.create("Contact", [{"LastName": "x", "Account": {"External_Id__c": "NOPE"}}]))
    )
    assert (code, fields) == ("INVALID_FIELD", [])
    assert message == "Foreign key external ID: NOPE not found for field External_Id__c in entity Account"


def test_null_clears_a_field_but_not_a_required_one(org: Org) -> None:
    cid = new_contact(org, Title="Boss", Email="a@b.co")
    assert one(org.update([{"Id": cid, "Title": None}], obj="Contact")).success
    assert org.get("Contact", cid, ["Title", "Email"]) == {
        "attributes": {"type": "Contact", "url": f"/services/data/v62.0/sobjects/Contact/{cid}"},
        "Title": None,
        "Email": "a@b.co",
    }
    assert (
        error_of(one(org.update([{"Id": cid, "LastName": None}], obj="Contact")))[0]
        == "REQUIRED_FIELD_MISSING"
    )


def test_update_changes_only_given_fields_and_modstamp(org: Org) -> None:
    cid = new_contact(org, FirstName="A", Title="T")
    assert one(org.update([{"attributes": {"type": "Contact"}, "id": cid, "FirstName": "B"}])).success
    rec = org.get("Contact", cid, ["FirstName", "Title", "Name"])
    assert (rec["FirstName"], rec["Title"], rec["Name"]) == ("B", "T", "B Doe")


# ---- delete, queryAll, get, seeds, reset, persistence -------------------------------------------------
def test_soft_delete_is_visible_to_query_all_only(org: Org) -> None:
    keep, gone = new_contact(org, FirstName="Keep"), new_contact(org, FirstName="Gone")
    assert one(org.delete([gone[:15]])).success
    assert [r["Id"] for r in rows(org, "SELECT Id FROM Contact")] == [keep]
    every = rows(org, "SELECT Id, IsDeleted FROM Contact ORDER BY FirstName", include_deleted=True)
    assert [(r["Id"], r["IsDeleted"]) for r in every] == [(gone, True), (keep, False)]
    bad = one(org.delete(["garbage"]))
    assert error_of(bad)[0] == "MALFORMED_ID"


def test_get_fields_and_errors(org: Org) -> None:
    cid = new_contact(org, Email="x@y.zz")
    assert org.get("Contact", cid[:15], ["email"])["Email"] == "x@y.zz"
    for bad_id in ("003" + "0" * 12, "nonsense"):
        with pytest.raises(OrgError) as exc:
            org.get("Contact", bad_id)
        assert (exc.value.status, exc.value.code, exc.value.message) == (
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    with pytest.raises(OrgError) as exc:
        org.get("Contact", cid, ["Nope"])
    assert (
        exc.value.code == "INVALID_FIELD" and "No such column 'Nope' on entity 'Contact'" in exc.value.message
    )


def test_users_and_organization_are_seeded_and_survive_reset(org: Org) -> None:
    new_contact(org)
    org.reset()
    assert org.query("SELECT COUNT() FROM Contact").total_size == 0
    user = org.get("User", DEFAULT_USER_ID)
    assert user["Username"] == "admin@example.com" and user["IsActive"] is True
    orgrec = rows(org, "SELECT Name, IsSandbox, InstanceName, OrganizationType FROM Organization")
    assert orgrec[0]["attributes"]["url"].endswith(DEFAULT_ORG_ID)
    assert orgrec[0]["IsSandbox"] is False and orgrec[0]["Name"] == org.config.org_name


def test_persisted_org_reopens_with_records_and_fresh_ids(tmp_path: Path) -> None:
    db = str(tmp_path / "org.db")
    first = Org(config(), db_path=db)
    old = [str(r.id) for r in first.create("Contact", [{"LastName": f"n{i}"} for i in range(3)])]
    case1 = one(first.create("Case", [{"Subject": "s"}])).id
    first.close()
    again = Org(config(), db_path=db)
    assert sorted(r["Id"] for r in rows(again, "SELECT Id FROM Contact")) == sorted(old)
    new = one(again.create("Contact", [{"LastName": "later"}])).id
    assert new not in old
    case2 = one(again.create("Case", [{"Subject": "t"}])).id
    numbers = [again.get("Case", str(c), ["CaseNumber"])["CaseNumber"] for c in (case1, case2)]
    assert numbers == ["00001000", "00001001"]
    assert again.get("User", DEFAULT_USER_ID)["Username"] == "admin@example.com"
    again.close()


def test_reopen_with_a_changed_org_adds_columns_and_tables(tmp_path: Path) -> None:
    db = str(tmp_path / "org.db")
    first = Org(config(), db_path=db)
    cid = new_contact(first, Title="kept")
    first.close()
    cfg = config()
    cfg.objects["Contact"].fields["Shoe_Size__c"] = FieldDef("Shoe_Size__c", "double", custom=True)
    cfg.objects["Gadget__c"] = SObjectDef(
        "Gadget__c",
        "a00",
        custom=True,
        fields={
            "Id": FieldDef("Id", "id", nillable=False, createable=False, updateable=False),
            "Name": FieldDef("Name", "string", length=80, nillable=False),
        },
    )
    again = Org(cfg, db_path=db)
    assert one(again.update([{"Id": cid, "Shoe_Size__c": 42.5}], obj="Contact")).success
    assert again.get("Contact", cid, ["Title", "Shoe_Size__c"])["Shoe_Size__c"] == 42.5
    gadget = one(again.create("Gadget__c", [{"Name": "g"}]))
    assert gadget.success and str(gadget.id).startswith("a00")
    assert rows(again, "SELECT Name FROM Gadget__c")[0]["Name"] == "g"
    again.close()


def test_concurrent_writers_and_readers_share_one_org(tmp_path: Path) -> None:
    shared = Org(config(), db_path=str(tmp_path / "org.db"))
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                res = shared.create("Contact", [{"LastName": f"w{n}-{i}", "External_Id__c": f"W{n}-{i}"}])
                assert res[0].success, res
                list(shared.query("SELECT Id, LastName FROM Contact WHERE LastName LIKE 'w%'").records)
        except BaseException as e:  # surfaced in the main thread
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = rows(shared, "SELECT Id FROM Contact")
    assert len(got) == 40 and len({r["Id"] for r in got}) == 40
    shared.close()


def test_derived_fields_follow_their_sources(org: Org) -> None:
    account = one(org.create("Account", [{"Name": "A"}])).id
    contract = one(
        org.create("Contract", [{"AccountId": account, "StartDate": "2024-01-15", "ContractTerm": 12}])
    )
    assert contract.success, contract
    assert org.get("Contract", str(contract.id), ["EndDate"])["EndDate"] == "2025-01-14"
    case = one(org.create("Case", [{"Subject": "s"}])).id
    assert org.get("Case", str(case), ["IsClosed", "Status"]) == {
        **org.get("Case", str(case), ["IsClosed"]),
        "IsClosed": False,
        "Status": "New",
    }
    assert one(org.update([{"Id": case, "Status": "Closed"}])).success
    assert rows(org, "SELECT Id FROM Case WHERE IsClosed = true")[0]["Id"] == case


def test_a_record_updated_twice_in_one_request_keeps_the_last_values(org: Org) -> None:
    cid = new_contact(org, Title="t0")
    res = org.update(
        [
            {"Id": cid, "Title": "t1"},
            {"Id": cid, "Title": "t2", "Department": "d"},
            {"Id": cid, "Title": "t3"},
        ]
    )
    assert all(r.success for r in res)
    assert org.get("Contact", cid, ["Title", "Department"])["Title"] == "t3"
