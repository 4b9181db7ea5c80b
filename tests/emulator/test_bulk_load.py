"""Bulk API 2.0 rows through ``Org.bulk_load``: every operation, empty cell vs ``#N/A``, header errors."""

from __future__ import annotations

from typing import Any

import pytest

from sfsync.emulator.metadata.schema import default_org
from sfsync.emulator.records import bulk_rows
from sfsync.emulator.records.org import BulkRowResult, Org, OrgError


@pytest.fixture
def org() -> Any:
    o = Org(default_org())
    yield o
    o.close()


def ok(results: list[BulkRowResult]) -> list[str]:
    bad = [r.error for r in results if r.error is not None]
    assert not bad, bad
    return [str(r.id) for r in results]


def contact(org: Org, rid: str, *fields: str) -> dict[str, Any]:
    return org.get("Contact", rid, list(fields))


def test_insert_returns_ids_in_row_order_and_applies_defaults(org: Org) -> None:
    header = ["LastName", "FirstName", "Email", "Birthdate", "DoNotCall"]
    res = org.bulk_load(
        "Contact",
        "insert",
        None,
        header,
        [
            ["Alpha", "Ann", "ann@x.com", "1980-01-02", "true"],
            ["Bravo", "", "", "", ""],
            ["", "NoLast", "", "", ""],
        ],
    )
    assert [r.created for r in res[:2]] == [True, True] and res[2].id is None
    assert res[2].error is not None and res[2].error.to_bulk() == (
        # the real format: fields, then " --" (jsforce test/bulk2.test.ts, recorded on real orgs)
        "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    )
    a = contact(org, str(res[0].id), "Name", "Birthdate", "DoNotCall", "OwnerId")
    assert (a["Name"], a["Birthdate"], a["DoNotCall"]) == ("Ann Alpha", "1980-01-02", True)
    b = contact(org, str(res[1].id), "FirstName", "DoNotCall")
    assert b["FirstName"] is None and b["DoNotCall"] is False


def test_update_empty_cell_leaves_unchanged_and_na_sets_null(org: Org) -> None:
    [rid] = ok(
        org.bulk_load("Contact", "insert", None, ["LastName", "Title", "Phone"], [["Doe", "Boss", "123"]])
    )
    res = org.bulk_load("Contact", "update", None, ["Id", "Title", "Phone"], [[rid, "", "#N/A"]])
    assert ok(res) == [rid] and res[0].created is False
    rec = contact(org, rid, "Title", "Phone")
    assert (rec["Title"], rec["Phone"]) == ("Boss", None)
    res = org.bulk_load("Contact", "update", None, ["Id", "LastName"], [[rid, "#N/A"]])
    assert res[0].error is not None and res[0].error.status_code == "REQUIRED_FIELD_MISSING"


def test_update_row_errors(org: Org) -> None:
    [acc] = ok(org.bulk_load("Account", "insert", None, ["Name"], [["Acme"]]))
    [rid] = ok(org.bulk_load("Contact", "insert", None, ["LastName"], [["Doe"]]))
    res = org.bulk_load(
        "Contact",
        "update",
        None,
        ["Id", "Title", "Email"],
        [
            ["bogus", "x", ""],
            [acc, "x", ""],
            ["0038d0000000zzzAAA"[:15], "x", ""],
            ["", "x", ""],
            [rid, "", "broken@"],
        ],
    )
    assert [r.error.status_code if r.error else None for r in res] == [
        "MALFORMED_ID",
        "MALFORMED_ID",
        "NOT_FOUND",
        "MISSING_ARGUMENT",
        "INVALID_EMAIL_ADDRESS",
    ]
    assert res[0].error is not None and res[0].error.to_bulk() == (
        "MALFORMED_ID:Contact ID: id value of incorrect type: bogus:Id --"
    )


def test_upsert_creates_updates_and_rejects_repeated_keys(org: Org) -> None:
    header = ["External_Id__c", "LastName", "Title"]
    first = org.bulk_load(
        "Contact", "upsert", "External_Id__c", header, [["E1", "One", "T1"], ["E2", "Two", ""]]
    )
    ids = ok(first)
    assert [r.created for r in first] == [True, True]
    second = org.bulk_load(
        "Contact",
        "upsert",
        "External_Id__c",
        header,
        [
            ["e1", "", "T1b"],
            ["E3", "Three", ""],
            ["E4", "Four", ""],
            ["e4", "Four again", ""],
            ["#N/A", "x", ""],
        ],
    )
    assert (second[0].id, second[0].created, second[1].created) == (ids[0], False, True)
    assert [r.error.status_code if r.error else None for r in second] == [
        None,
        None,
        "DUPLICATE_EXTERNAL_ID",
        "DUPLICATE_EXTERNAL_ID",
        "MISSING_ARGUMENT",
    ]
    rec = contact(org, ids[0], "LastName", "Title", "External_Id__c")
    assert (rec["LastName"], rec["Title"], rec["External_Id__c"]) == ("One", "T1b", "E1")


def test_upsert_by_id(org: Org) -> None:
    [rid] = ok(org.bulk_load("Contact", "insert", None, ["LastName"], [["Doe"]]))
    res = org.bulk_load("Contact", "upsert", "Id", ["Id", "LastName"], [[rid, "Roe"], ["", "New"]])
    assert [(r.created, r.error) for r in res] == [(False, None), (True, None)]
    assert contact(org, rid, "LastName")["LastName"] == "Roe"


def test_insert_duplicate_value_within_the_job_names_the_first_record(org: Org) -> None:
    res = org.bulk_load("Contact", "insert", None, ["LastName", "External_Id__c"], [["a", "X"], ["b", "x"]])
    assert res[0].error is None and res[1].error is not None
    assert res[1].error.to_bulk() == (
        "DUPLICATE_VALUE:duplicate value found: External_Id__c duplicates value on record with id: "
        f"{str(res[0].id)[:15]}"
        ":--"
    )


def test_relationship_column_sets_the_parent(org: Org) -> None:
    [acc] = ok(org.bulk_load("Account", "insert", None, ["Name", "External_Id__c"], [["Acme", "ACC-1"]]))
    res = org.bulk_load(
        "Contact",
        "insert",
        None,
        ["LastName", "Account.External_Id__c"],
        [
            ["Doe", "acc-1"],
            ["Roe", "ACC-404"],
            ["Poe", ""],
        ],
    )
    assert contact(org, str(res[0].id), "AccountId")["AccountId"] == acc
    assert res[1].error is not None and res[1].error.to_bulk() == (
        "INVALID_FIELD:Foreign key external ID: ACC-404 not found for field External_Id__c "
        "in entity Account:--"
    )
    assert contact(org, str(res[2].id), "AccountId")["AccountId"] is None
    upd = org.bulk_load(
        "Contact", "update", None, ["Id", "Account.External_Id__c"], [[str(res[0].id), "#N/A"]]
    )
    assert upd[0].error is None and contact(org, str(res[0].id), "AccountId")["AccountId"] is None


def test_delete_and_hard_delete(org: Org) -> None:
    ids = ok(org.bulk_load("Contact", "insert", None, ["LastName"], [["a"], ["b"], ["c"]]))
    res = org.bulk_load("Contact", "delete", None, ["Id"], [[ids[0]], [ids[0][:15]], ["junk"]])
    assert res[0].error is None and res[0].id == ids[0]
    assert [r.error.status_code if r.error else None for r in res[1:]] == [
        "ENTITY_IS_DELETED",
        "MALFORMED_ID",
    ]
    assert org.query("SELECT COUNT() FROM Contact").total_size == 2
    assert org.query("SELECT COUNT() FROM Contact", include_deleted=True).total_size == 3
    hard = org.bulk_load("Contact", "hardDelete", None, ["Id"], [[ids[0]], [ids[1]]])
    assert [r.error for r in hard] == [None, None]
    assert org.query("SELECT COUNT() FROM Contact", include_deleted=True).total_size == 1
    gone = org.bulk_load("Contact", "delete", None, ["Id"], [[ids[1]]])
    assert gone[0].error is not None and gone[0].error.status_code == "NOT_FOUND"


@pytest.mark.parametrize(
    ("operation", "ext", "header", "message"),
    [
        ("insert", None, ["LastName", "Foo"], "Field name not found : Foo"),
        (
            "insert",
            None,
            ["LastName", "Acount.External_Id__c"],
            "Field name not found : Acount.External_Id__c",
        ),
        ("update", None, ["LastName"], "Id field is required for update"),
        ("upsert", "External_Id__c", ["LastName"], "Field name not found : External_Id__c"),
        ("upsert", "Title", ["Title", "LastName"], "Provided external ID field does not exist"),
        ("delete", None, ["LastName"], "Field name not found : Id"),
        ("insert", None, ["LastName", "lastname"], "Duplicate field name : lastname"),
        ("merge", None, ["LastName"], "Unsupported operation: merge"),
    ],
)
def test_header_errors_fail_the_whole_batch(
    org: Org, operation: str, ext: str | None, header: list[str], message: str
) -> None:
    with pytest.raises(OrgError) as exc:
        org.bulk_load("Contact", operation, ext, header, [["x"] * len(header)])
    assert exc.value.code == "InvalidBatch" and exc.value.message.startswith(message)
    assert org.query("SELECT COUNT() FROM Contact").total_size == 0


def test_cell_rules_per_row(org: Org) -> None:
    res = org.bulk_load(
        "Account",
        "insert",
        None,
        ["Name", "NumberOfEmployees", "Id", "BillingGeocodeAccuracy"],
        [
            ["A", "12", "", ""],
            ["B", "twelve", "", ""],
            ["C", "", "0018d0000000001AAA", ""],
            ["D", "", "", "Moon"],
        ],
    )
    assert [r.error.status_code if r.error else None for r in res] == [
        None,
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]


def test_chunks_keep_row_order_and_lock_faults_apply(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_rows, "BULK_CHUNK_ROWS", 7)
    rows = [[f"N{i:03d}", f"K{i:03d}"] for i in range(30)]
    res = org.bulk_load("Contact", "upsert", "External_Id__c", ["LastName", "External_Id__c"], rows)
    ids = ok(res)
    names = {r["Id"]: r["LastName"] for r in org.query("SELECT Id, LastName FROM Contact").records}
    assert [names[i] for i in ids] == [r[0] for r in rows]
    org.config.faults.lock_row_rate = 1.0
    res = org.bulk_load("Contact", "update", None, ["Id", "Title"], [[i, "t"] for i in ids[:3]])
    assert {r.error.status_code for r in res if r.error} == {"UNABLE_TO_LOCK_ROW"}
