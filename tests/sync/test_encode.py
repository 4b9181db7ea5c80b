"""The encoders decide what Salesforce receives: empty vs #N/A vs value (Bulk) and omit vs null (REST)."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pyarrow as pa
import pytest

from sfsync.sync.encode import (
    FieldMap,
    chunk_csv,
    csv_header,
    encode_csv_rows,
    encode_json_records,
    send_column,
)

MAPS = [
    FieldMap("name", "LastName"),
    FieldMap("born", "Birthdate"),
    FieldMap("seen", "Last_Seen__c"),
    FieldMap("vip", "VIP__c"),
    FieldMap("score", "Score__c"),
]
KEY = FieldMap("id", "External_Id__c")


def _table() -> pa.Table:
    paris = dt.timezone(dt.timedelta(hours=1))
    return pa.table(
        {
            "id": ["k1", "k2", "k3"],
            "name": ['Dupont, "Jo"\nLine2', None, "Zoë"],
            "born": pa.array([dt.date(1990, 1, 31), None, dt.date(2000, 2, 29)], pa.date32()),
            "seen": pa.array(
                [dt.datetime(2024, 1, 31, 11, 0, 0, 123000, tzinfo=paris), None, None],
                pa.timestamp("us", tz="Europe/Paris"),
            ),
            "vip": [True, False, None],
            "score": pa.array([Decimal("12.50"), None, Decimal("-1.00")], pa.decimal128(10, 2)),
            send_column("name"): [True, True, False],
            send_column("born"): [True, True, True],
            send_column("seen"): [True, False, True],
            send_column("vip"): [True, True, True],
            send_column("score"): [True, False, True],
        }
    )


def test_bulk_csv_cells_distinguish_unchanged_cleared_and_values() -> None:
    body = csv_header(["External_Id__c"] + [m.field for m in MAPS]) + encode_csv_rows(_table(), MAPS, KEY)
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["External_Id__c", "LastName", "Birthdate", "Last_Seen__c", "VIP__c", "Score__c"]
    assert rows[1] == ["k1", 'Dupont, "Jo"\nLine2', "1990-01-31", "2024-01-31T10:00:00.123Z", "true", "12.50"]
    # k2: name sent and null -> cleared; seen not sent -> empty; vip false is a value
    assert rows[2] == ["k2", "#N/A", "#N/A", "", "false", ""]
    assert rows[3] == ["k3", "", "2000-02-29", "#N/A", "#N/A", "-1.00"]


def test_rest_records_omit_unsent_fields_and_send_null_to_clear() -> None:
    recs = encode_json_records(_table(), MAPS, KEY)
    assert recs[0] == {
        "External_Id__c": "k1",
        "LastName": 'Dupont, "Jo"\nLine2',
        "Birthdate": "1990-01-31",
        "Last_Seen__c": "2024-01-31T10:00:00.123Z",
        "VIP__c": True,
        "Score__c": 12.5,
    }
    assert recs[1] == {"External_Id__c": "k2", "LastName": None, "Birthdate": None, "VIP__c": False}
    assert recs[2] == {
        "External_Id__c": "k3",
        "Birthdate": "2000-02-29",
        "Last_Seen__c": None,
        "VIP__c": None,
        "Score__c": -1.0,
    }


def test_chunks_respect_byte_limit_and_keep_every_row_once() -> None:
    n = 1000
    t = pa.table({"id": [f"k{i}" for i in range(n)], "name": ["x" * 50] * n, send_column("name"): [True] * n})
    maps = [FieldMap("name", "LastName")]
    chunks = list(chunk_csv(t.to_batches(max_chunksize=300), maps, KEY, max_bytes=8000))
    assert len(chunks) > 1
    seen: list[str] = []
    for body, batches in chunks:
        assert len(body) <= 8000
        rows = list(csv.reader(io.StringIO(body.decode())))[1:]
        assert [r[0] for r in rows] == [k for b in batches for k in b.column(0).to_pylist()]
        seen += [r[0] for r in rows]
    assert seen == [f"k{i}" for i in range(n)]


def test_the_first_chunk_is_small_and_a_row_too_big_for_it_still_fits_the_next() -> None:
    n = 1000
    t = pa.table({"id": [f"k{i}" for i in range(n)], "name": ["x" * 50] * n, send_column("name"): [True] * n})
    maps = [FieldMap("name", "LastName")]
    chunks = list(chunk_csv(t.to_batches(max_chunksize=300), maps, KEY, 20_000, first_bytes=2_000))
    sizes = [len(body) for body, _ in chunks]
    assert sizes[0] <= 2_000 and all(s <= 20_000 for s in sizes) and max(sizes) > 2_000
    rows = [r[0] for body, _ in chunks for r in list(csv.reader(io.StringIO(body.decode())))[1:]]
    assert rows == [f"k{i}" for i in range(n)]
    # a first row larger than the first chunk's size is not refused: that chunk may grow to max_bytes
    big = pa.table({"id": ["k0", "k1"], "name": ["x" * 500, "y"], send_column("name"): [True, True]})
    chunks = list(chunk_csv(big.to_batches(), maps, KEY, 2_000, first_bytes=100))
    assert len(chunks) == 1 and 500 < len(chunks[0][0]) <= 2_000
    assert [k for b in chunks[0][1] for k in b.column(0).to_pylist()] == ["k0", "k1"]


def test_a_row_bigger_than_the_limit_is_refused() -> None:
    t = pa.table({"id": ["k"], "name": ["x" * 500], send_column("name"): [True]})
    with pytest.raises(ValueError, match="job limit"):
        list(chunk_csv(t.to_batches(), [FieldMap("name", "LastName")], KEY, max_bytes=100))


def test_lookups_nest_in_rest_and_use_the_relationship_header_in_bulk() -> None:
    from sfsync.sync.encode import Lookup, csv_fields

    account = Lookup("Account", "External_Id__c", "AccountId", "Account")
    owner = Lookup("Owner", "Username", "OwnerId", "User", polymorphic=True)
    table = pa.table(
        {
            "company": ["C-1", None, "C-3", "C-4"],
            send_column("company"): [True, True, False, True],
            "rep": ["jane@example.com", "", "x@example.com", None],
            send_column("rep"): [True, True, True, False],
        }
    )
    maps = [
        FieldMap("company", account.header, account, clears=True),
        FieldMap("rep", owner.header, owner, clears=True),
    ]
    assert encode_json_records(table, maps) == [
        {
            "Account": {"External_Id__c": "C-1"},
            "Owner": {"attributes": {"type": "User"}, "Username": "jane@example.com"},
        },
        {"AccountId": None, "OwnerId": None},
        {"Owner": {"attributes": {"type": "User"}, "Username": "x@example.com"}},
        {"Account": {"External_Id__c": "C-4"}},
    ]
    # Bulk: the relationship column carries values; #N/A goes in the reference field's own column
    assert csv_fields(maps) == ["Account.External_Id__c", "AccountId", "User:Owner.Username", "OwnerId"]
    rows = list(csv.reader(io.StringIO(encode_csv_rows(table, maps).decode())))
    assert rows == [
        ["C-1", "", "jane@example.com", ""],
        ["", "#N/A", "", "#N/A"],
        ["", "", "x@example.com", ""],
        ["C-4", "", "", ""],
    ]
    # without a row that clears it, a lookup needs no reference field column
    assert csv_fields([FieldMap("company", account.header, account)]) == ["Account.External_Id__c"]
