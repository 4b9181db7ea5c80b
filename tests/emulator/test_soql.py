"""SOQL: parsing, compilation to SQL over the org's tables, paging, escapes and Salesforce's exact errors."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from sfsync.emulator.metadata.schema import default_org
from sfsync.emulator.records import soql as soql_module
from sfsync.emulator.records.org import Org, OrgError
from sfsync.emulator.records.soql_dates import date_range


@pytest.fixture
def org() -> Any:
    o = Org(default_org())
    accounts = o.create(
        "Account",
        [
            {"Name": "Acme", "External_Id__c": "A1", "NumberOfEmployees": 50, "Industry": "Banking"},
            {"Name": "Globex", "External_Id__c": "A2", "NumberOfEmployees": 5},
            {"Name": "Initech", "External_Id__c": "A3"},
        ],
    )
    assert all(r.success for r in accounts)
    contacts = o.create(
        "Contact",
        [
            {
                "LastName": "Alpha",
                "FirstName": "Ann",
                "Email": "ann@acme.com",
                "AccountId": accounts[0].id,
                "Birthdate": "1980-01-15",
                "DoNotCall": True,
                "External_Id__c": "C1",
            },
            {
                "LastName": "Bravo",
                "FirstName": "Bob",
                "Email": "bob@globex.com",
                "AccountId": accounts[1].id,
                "Birthdate": "1990-06-30",
                "External_Id__c": "C2",
            },
            {"LastName": "Charlie", "Title": "50% off_sale", "External_Id__c": "C3"},
            {"LastName": "delta", "FirstName": "Dee", "Title": "It's \\ here", "External_Id__c": "C4"},
        ],
    )
    assert all(r.success for r in contacts)
    yield o
    o.close()


def q(org: Org, soql: str, **kw: Any) -> list[dict[str, Any]]:
    return list(org.query(soql, **kw).records)


def names(org: Org, soql: str) -> list[str]:
    return [r["LastName"] for r in q(org, soql)]


def query_error(org: Org, soql: str) -> OrgError:
    with pytest.raises(OrgError) as exc:
        org.query(soql)
    assert exc.value.status == 400
    return exc.value


def test_records_have_attributes_fields_in_selected_order_and_nested_parents(org: Org) -> None:
    res = org.query(
        "select email, account.name, lastname, ACCOUNT.external_id__c from contact order by lastname"
    )
    assert res.total_size == 4 and res.object == "Contact"
    first = next(res.records)
    assert list(first) == ["attributes", "Email", "Account", "LastName"]
    assert first["attributes"]["type"] == "Contact"
    assert first["attributes"]["url"].startswith("/services/data/v62.0/sobjects/Contact/003")
    assert first["Account"]["attributes"]["type"] == "Account"
    assert first["Account"] == {**first["Account"], "Name": "Acme", "External_Id__c": "A1"}
    rest = list(res.records)
    assert rest[1]["Account"] is None
    assert [c.path for c in res.columns] == ["Email", "Account.Name", "LastName", "Account.External_Id__c"]
    assert [c.object for c in res.columns] == ["Contact", "Account", "Contact", "Account"]


def test_two_level_parent_path_and_typed_values(org: Org) -> None:
    rec = q(
        org,
        "SELECT Account.Owner.Username, DoNotCall, Birthdate, Account.NumberOfEmployees "
        "FROM Contact WHERE LastName = 'Alpha'",
    )[0]
    assert rec["Account"]["Owner"]["Username"] == "admin@example.com"
    assert rec["DoNotCall"] is True and rec["Birthdate"] == "1980-01-15"
    assert rec["Account"]["NumberOfEmployees"] == 50


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("LastName = 'alpha'", ["Alpha"]),
        ("LastName != 'Alpha'", ["Bravo", "Charlie", "delta"]),
        ("LastName <> 'Alpha' AND FirstName != null", ["Bravo", "delta"]),
        ("FirstName = null", ["Charlie"]),
        ("Email LIKE '%@acme.%'", ["Alpha"]),
        ("Title LIKE '50\\% off\\_%'", ["Charlie"]),
        ("Title LIKE '50\\%%'", ["Charlie"]),
        ("External_Id__c IN ('c1', 'C3', 'nope')", ["Alpha", "Charlie"]),
        ("External_Id__c NOT IN ('C1', 'C3')", ["Bravo", "delta"]),
        ("FirstName NOT IN ('Ann')", ["Bravo", "Charlie", "delta"]),
        ("FirstName IN ('Ann', null)", ["Alpha", "Charlie"]),
        ("(LastName = 'Alpha' OR LastName = 'Bravo') AND Email LIKE 'bob%'", ["Bravo"]),
        ("NOT LastName = 'Alpha'", ["Bravo", "Charlie", "delta"]),
        ("NOT (LastName = 'Alpha' OR FirstName = null)", ["Bravo", "delta"]),
        ("Birthdate > 1985-01-01", ["Bravo"]),
        ("Birthdate <= 1980-01-15", ["Alpha"]),
        ("DoNotCall = true", ["Alpha"]),
        ("DoNotCall = false", ["Bravo", "Charlie", "delta"]),
        ("Account.NumberOfEmployees >= 10", ["Alpha"]),
        ("Account.NumberOfEmployees < 10.5", ["Bravo"]),
        ("Account.Name = null", ["Charlie", "delta"]),
        ("CreatedDate > 2000-01-01T00:00:00Z", ["Alpha", "Bravo", "Charlie", "delta"]),
        ("CreatedDate < 2000-01-01T00:00:00+01:00", []),
        ("Title = 'It\\'s \\\\ here'", ["delta"]),
    ],
)
def test_where(org: Org, where: str, expected: list[str]) -> None:
    assert names(org, f"SELECT LastName FROM Contact WHERE {where} ORDER BY LastName") == expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("DoNotCall = null", ["Bravo", "Charlie", "delta"]),
        ("DoNotCall != null", ["Alpha"]),
        ("NOT DoNotCall = null", ["Alpha"]),
        ("DoNotCall IN (null)", ["Bravo", "Charlie", "delta"]),
    ],
)
def test_null_matches_false_on_a_boolean_field(org: Org, where: str, expected: list[str]) -> None:
    """Salesforce's "Use null in WHERE" page: on a boolean field `= null` is the same as `= false` and
    `!= null` the same as `= true` (a checkbox is never null)
    https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/api/sforce_api_calls_soql_null.htm"""
    assert names(org, f"SELECT LastName FROM Contact WHERE {where} ORDER BY LastName") == expected


def test_ids_compare_in_15_and_18_characters(org: Org) -> None:
    rid = q(org, "SELECT Id FROM Contact WHERE LastName = 'Bravo'")[0]["Id"]
    assert [r["Id"] for r in q(org, f"SELECT Id FROM Contact WHERE Id = '{rid[:15]}'")] == [rid]
    assert [r["Id"] for r in q(org, f"SELECT Id FROM Contact WHERE Id IN ('{rid}')")] == [rid]
    err = query_error(org, "SELECT Id FROM Contact WHERE Id = 'abc'")
    assert err.code == "INVALID_QUERY_FILTER_OPERATOR" and "invalid ID field: abc" in err.message


def test_order_by_directions_and_nulls(org: Org) -> None:
    assert names(org, "SELECT LastName FROM Contact ORDER BY FirstName") == [
        "Charlie",
        "Alpha",
        "Bravo",
        "delta",
    ]
    assert names(org, "SELECT LastName FROM Contact ORDER BY FirstName DESC") == [
        "delta",
        "Bravo",
        "Alpha",
        "Charlie",
    ]
    assert names(org, "SELECT LastName FROM Contact ORDER BY FirstName ASC NULLS LAST") == [
        "Alpha",
        "Bravo",
        "delta",
        "Charlie",
    ]
    assert names(
        org, "SELECT LastName FROM Contact ORDER BY Account.Name DESC NULLS FIRST, LastName DESC"
    ) == ["delta", "Charlie", "Bravo", "Alpha"]


def test_limit_offset_and_count(org: Org) -> None:
    res = org.query("SELECT LastName FROM Contact ORDER BY LastName LIMIT 2 OFFSET 1")
    assert res.total_size == 2 and [r["LastName"] for r in res.records] == ["Bravo", "Charlie"]
    res = org.query("SELECT LastName FROM Contact LIMIT 3 OFFSET 2")
    assert res.total_size == 2 and len(list(res.records)) == 2
    count = org.query("SELECT COUNT() FROM Contact WHERE FirstName != null")
    assert count.is_count and count.total_size == 3 and list(count.records) == []
    assert org.query("select count() from Account").total_size == 3


def test_paging_is_lazy_consistent_and_works_from_other_threads(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(soql_module, "QUERY_CHUNK_ROWS", 3)
    org.create("Contact", [{"LastName": f"P{i:02d}"} for i in range(20)])
    res = org.query("SELECT Id, LastName FROM Contact")
    assert res.total_size == 24
    ordered = org.query("SELECT LastName FROM Contact WHERE LastName LIKE 'P%' ORDER BY LastName DESC")
    head = [next(res.records) for _ in range(5)]
    org.create("Contact", [{"LastName": "Late"}])  # inserted after the query ran: not in its result
    out: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: out.extend(res.records))
    worker.start()
    worker.join()
    got = head + out
    assert len(got) == 24 and len({r["Id"] for r in got}) == 24
    assert [r["Id"] for r in got] == sorted(r["Id"] for r in got)
    assert "Late" not in {r["LastName"] for r in got}
    assert [r["LastName"] for r in ordered.records] == [f"P{i:02d}" for i in reversed(range(20))]


def test_query_all_sees_deleted_records(org: Org) -> None:
    rid = q(org, "SELECT Id FROM Contact WHERE LastName = 'Alpha'")[0]["Id"]
    org.delete([rid])
    assert "Alpha" not in names(org, "SELECT LastName FROM Contact")
    got = q(org, "SELECT LastName, IsDeleted FROM Contact WHERE IsDeleted = true", include_deleted=True)
    assert got == [{**got[0], "LastName": "Alpha", "IsDeleted": True}]


def test_unknown_column_error_is_exact(org: Org) -> None:
    err = query_error(org, "SELECT Foo FROM Account")
    assert err.code == "INVALID_FIELD"
    assert err.message == (
        "\nSELECT Foo FROM Account\n       ^\nERROR at Row:1:Column:8\n"
        "No such column 'Foo' on entity 'Account'. If you are attempting to use a custom field, "
        "be sure to append the '__c' after the custom field name. "
        "Please reference your WSDL or the describe call for the appropriate names."
    )
    assert (
        "No such column 'Nope' on entity 'Account'"
        in query_error(org, "SELECT Id FROM Contact WHERE Account.Nope = 'x'").message
    )
    assert (
        "Didn't understand relationship 'Acount'"
        in query_error(org, "SELECT Acount.Name FROM Contact").message
    )


def test_unknown_object_is_invalid_type(org: Org) -> None:
    err = query_error(org, "SELECT Id FROM ScratchOrgInfo LIMIT 1")
    assert err.code == "INVALID_TYPE"
    assert "ERROR at Row:1:Column:16\nsObject type 'ScratchOrgInfo' is not supported." in err.message


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FROM Account",
        "SELECT Id FROM Account WHERE",
        "SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'",
        "SELECT Id FROM Account WHERE (Name = 'a'",
        "SELECT Id FROM Account LIMIT x",
        "SELECT Id Account",
        "SELECT Id FROM Account WHERE Name = 'unterminated",
        "SELECT Id FROM Account ORDER Name",
        "SELECT Id, Name FROM Account WHERE Name = 'a\\q'",
        "SELECT Id, Id FROM Account",
    ],
)
def test_syntax_errors_are_malformed_query(org: Org, soql: str) -> None:
    err = query_error(org, soql)
    assert err.code == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:" in err.message


def test_bad_backslash_message(org: Org) -> None:
    err = query_error(org, "SELECT Id FROM Account WHERE Name = 'a\\qb'")
    assert err.message.endswith(
        "Invalid string literal 'a\\qb'. Illegal character sequence '\\q' in string literal."
    )


def test_string_escapes_decode(org: Org) -> None:
    org.create("Contact", [{"LastName": "Tab\there", "Title": "line1\nline2 é"}])
    assert names(org, "SELECT LastName FROM Contact WHERE Title = 'line1\\nline2 \\u00e9'") == ["Tab\there"]
    assert names(org, "SELECT LastName FROM Contact WHERE LastName = 'Tab\\there'") == ["Tab\there"]


@pytest.mark.parametrize(
    ("where", "needle"),
    [
        ("NumberOfEmployees = '5'", "must be of type int and should not be enclosed in quotes"),
        ("Name = 5", "must be of type string and should be enclosed in quotes"),
        ("CreatedDate > 2024-01-01", "must be of type dateTime"),
        ("IsDeleted = 'false'", "must be of type boolean"),
    ],
)
def test_literal_of_the_wrong_type(org: Org, where: str, needle: str) -> None:
    err = query_error(org, f"SELECT Id FROM Account WHERE {where}")
    assert err.code == "INVALID_FIELD" and needle in err.message


def test_seeded_objects_and_case_insensitive_names(org: Org) -> None:
    rec = q(org, "select name, issandbox, trialexpirationdate, namespaceprefix from organization")[0]
    assert list(rec) == ["attributes", "Name", "IsSandbox", "TrialExpirationDate", "NamespacePrefix"]
    assert (
        q(org, "SELECT Username FROM User WHERE Username = 'ADMIN@example.com'")[0]["Username"]
        == "admin@example.com"
    )


def test_in_lookup_uses_the_external_id_index(org: Org) -> None:
    plan = org.store.conn.execute(
        'EXPLAIN QUERY PLAN SELECT t0.Id FROM "Contact" t0 '
        'WHERE t0.IsDeleted = 0 AND t0."External_Id__c" IN (?, ?)',
        ("a", "b"),
    ).fetchall()
    assert any("External_Id__c" in str(row) for row in plan)


def test_date_literals(org: Org) -> None:
    today = datetime.now(UTC).date()
    org.create(
        "Contact",
        [
            {"LastName": "Recent", "Birthdate": (today - timedelta(days=3)).isoformat()},
            {"LastName": "Future", "Birthdate": (today + timedelta(days=2)).isoformat()},
        ],
    )
    assert names(org, "SELECT LastName FROM Contact WHERE Birthdate = LAST_N_DAYS:7") == ["Recent"]
    assert names(org, "SELECT LastName FROM Contact WHERE Birthdate = NEXT_N_DAYS:7") == ["Future"]
    assert names(org, "SELECT LastName FROM Contact WHERE Birthdate > TODAY") == ["Future"]
    assert names(org, "SELECT LastName FROM Contact WHERE Birthdate < LAST_N_YEARS:40 ORDER BY LastName") == [
        "Alpha"
    ]
    assert org.query("SELECT COUNT() FROM Contact WHERE CreatedDate = TODAY").total_size == 6
    assert org.query("SELECT COUNT() FROM Contact WHERE CreatedDate = YESTERDAY").total_size == 0
    assert org.query("SELECT COUNT() FROM Contact WHERE CreatedDate != TODAY").total_size == 0
    assert query_error(org, "SELECT Id FROM Contact WHERE LastName = TODAY").code == "INVALID_FIELD"
    assert query_error(org, "SELECT Id FROM Contact WHERE Birthdate = SOMEDAY:3").code == "MALFORMED_QUERY"


def test_date_literal_ranges() -> None:
    wed = date(2024, 2, 28)  # a Wednesday in a leap year
    assert date_range("TODAY", wed) == (wed, date(2024, 2, 29))
    assert date_range("this_week", wed) == (date(2024, 2, 25), date(2024, 3, 3))
    assert date_range("LAST_MONTH", wed) == (date(2024, 1, 1), date(2024, 2, 1))
    assert date_range("NEXT_N_MONTHS:11", wed) == (date(2024, 3, 1), date(2025, 2, 1))
    assert date_range("N_DAYS_AGO:2", wed) == (date(2024, 2, 26), date(2024, 2, 27))
    assert date_range("LAST_N_DAYS:x", wed) is None and date_range("SOMEDAY", wed) is None
