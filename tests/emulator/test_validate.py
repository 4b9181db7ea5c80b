"""Field codecs: JSON values and CSV cells to stored values, with Salesforce's per-field errors."""

from __future__ import annotations

from typing import Any

import pytest

from sfsync.emulator.metadata import ids
from sfsync.emulator.metadata.model import FieldDef, PicklistValue
from sfsync.emulator.records.validate import (
    Codec,
    FieldValueError,
    compound_value,
    label_of,
    parse_date,
    parse_datetime,
    parse_time,
)

PREFIXES = {"001": "Account", "003": "Contact"}


def codec(**kw: Any) -> Codec:
    kw.setdefault("name", "F__c")
    kw.setdefault("type", "string")
    return Codec(FieldDef(**kw), PREFIXES)


def fails(fn: Any, value: Any) -> tuple[str, str, list[str]]:
    with pytest.raises(FieldValueError) as exc:
        fn(value)
    e = exc.value.error
    return e.status_code, e.message, e.fields


def test_labels_from_describe_or_api_name() -> None:
    assert label_of(FieldDef("LastName", "string")) == "Last Name"
    assert label_of(FieldDef("External_Id__c", "string")) == "External Id"
    assert label_of(FieldDef("NumberOfEmployees", "int", label="Employees")) == "Employees"


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2024-01-31T10:00:00Z", "2024-01-31T10:00:00.000+0000"),
        ("2024-01-31T10:00:00.999Z", "2024-01-31T10:00:00.000+0000"),
        ("2024-01-31T10:00:00+05:30", "2024-01-31T04:30:00.000+0000"),
        ("2024-01-31T10:00:00-0800", "2024-01-31T18:00:00.000+0000"),
        ("2024-01-31T10:00:00.000+0000", "2024-01-31T10:00:00.000+0000"),
        ("2024-01-31T10:00:00", "2024-01-31T10:00:00.000+0000"),
        ("2024-13-01T10:00:00Z", None),
        ("2024-01-31", None),
        ("2024-01-31 10:00:00Z", None),
        ("2024-01-31T10:00:00+25:00", None),
        ("yesterday", None),
    ],
)
def test_datetimes(text: str, stored: str | None) -> None:
    assert parse_datetime(text) == stored


def test_dates_and_times() -> None:
    assert parse_date("2024-02-29") == "2024-02-29"
    assert parse_date("2023-02-29") is None and parse_date("2024-1-5") is None
    assert parse_time("10:30") == "10:30:00.000Z" and parse_time("10:30:05.5Z") == "10:30:05.500Z"
    assert parse_time("25:00") is None


def test_strings_check_length_email_and_restricted_picklists() -> None:
    assert codec(length=3).from_text("abc") == "abc"
    assert fails(codec(length=3, label="Code").from_text, "abcd") == (
        "STRING_TOO_LONG",
        "Code: data value too large: abcd (max length=3)",
        ["F__c"],
    )
    email = codec(name="Email", type="email", length=80)
    assert email.from_text("first.last+tag@sub.example.co.uk") == "first.last+tag@sub.example.co.uk"
    assert fails(email.from_text, "a@b")[0] == "INVALID_EMAIL_ADDRESS"
    values = [PicklistValue("Red"), PicklistValue("Blue"), PicklistValue("Old", active=False)]
    pick = codec(type="picklist", picklist_values=values, restricted_picklist=True)
    assert pick.from_text("Red") == "Red"
    assert fails(pick.from_text, "Old")[0] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    multi = codec(type="multipicklist", picklist_values=values, restricted_picklist=True)
    assert multi.from_text("Red;Blue") == "Red;Blue"
    assert fails(multi.from_text, "Red;Green")[1].endswith("bad value for restricted picklist field: Green")
    assert codec(type="picklist", picklist_values=values).from_text("Anything") == "Anything"


def test_numbers_and_booleans() -> None:
    num = codec(type="int", digits=3, label="Seats")
    assert num.from_text("42") == 42 and num.from_text("42.0") == 42 and num.from_json(7.0) == 7
    assert fails(num.from_text, "4.5") == (
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "Seats: value not of required type: 4.5",
        ["F__c"],
    )
    assert fails(num.from_text, "1000")[0] == "NUMBER_OUTSIDE_VALID_RANGE"
    money = codec(type="currency", precision=5, scale=2)
    # the API keeps every decimal sent (Salesforce Help knowledge articles 000212661, 000387302)
    assert money.from_text("123.456") == 123.456 and money.from_json(5) == 5.0
    assert fails(money.from_text, "1234")[0] == "NUMBER_OUTSIDE_VALID_RANGE"
    assert fails(money.from_text, "nan")[0] == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    flag = codec(type="boolean")
    assert [flag.from_text(t) for t in ("true", "FALSE", "1", "0")] == [1, 0, 1, 0]
    assert flag.from_json(True) == 1 and flag.to_json(0) is False
    assert fails(flag.from_text, "yes")[0] == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert fails(flag.from_json, "maybe")[0] == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert fails(num.from_json, [1])[0] == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert codec(type="string").from_json(12) == "12"


def test_references_normalize_and_check_the_target_object() -> None:
    ref = codec(name="AccountId", type="reference", reference_to=["Account"], label="Account ID")
    acc15 = "0018d0000000001"
    assert ref.from_text(acc15) == ids.normalize(acc15)
    assert fails(ref.from_text, "001xyz") == (
        "MALFORMED_ID",
        "Account ID: id value of incorrect type: 001xyz",
        ["AccountId"],
    )
    assert fails(ref.from_text, ids.normalize("0038d0000000001"))[0] == "INVALID_CROSS_REFERENCE_KEY"


def test_compound_address_from_parts() -> None:
    fd = FieldDef("BillingAddress", "address")
    assert compound_value(fd, {"BillingCity": None, "BillingStreet": None}) is None
    value = compound_value(fd, {"BillingCity": "Paris", "BillingCountry": "FR", "BillingStreet": None})
    assert value is not None and value["city"] == "Paris" and value["country"] == "FR"
