"""Finding what rows in flight became (``sfsync.sync.reconcile``), against the emulator's real answers:
values of every type compare as the org returns them, records already known are left out, and a record
whose values differ from what a row sent is not taken for it."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pyarrow as pa

from sfsync.salesforce import ConnectionSettings, SalesforceClient
from sfsync.sync.encode import FieldMap, Lookup, cell_table, encode_json_records, send_column
from sfsync.sync.reconcile import InFlight, _field_type, _narrowing_field, find_written
from sfsync.sync.target import KEY, PK, Target
from tests.plugins.emulator import InProcessEmulator
from tests.salesforce.conftest import password_settings

MAPS = (
    FieldMap("name", "LastName"),
    FieldMap("born", "Birthdate"),
    FieldMap("opted_out", "HasOptedOutOfEmail"),
    FieldMap("email", "Email"),
)


def _client(emulator: InProcessEmulator) -> SalesforceClient:
    settings: ConnectionSettings = password_settings(emulator.base_url)
    return SalesforceClient(settings, transport=emulator.transport, rng=random.Random(1))


def _rows(n: int, *, key: bool = False) -> pa.Table:
    data: dict[str, pa.Array] = {
        PK: pa.array([f"k{i}" for i in range(n)]),
        "name": pa.array([f"Lee {i}" for i in range(n)]),
        "born": pa.array([dt.date(1990, 1, 1 + i) for i in range(n)]),
        "opted_out": pa.array([i % 2 == 0 for i in range(n)]),
        "email": pa.array([f"Lee{i}@Example.com" for i in range(n)]),
    }
    if key:
        data[KEY] = pa.array([f"ext-{i}" for i in range(n)])
    for m in MAPS:
        data[send_column(m.column)] = pa.array([True] * n)
    return pa.table(data)


def test_inserted_records_are_found_by_the_values_sent_and_known_ones_left_out(
    emulator: InProcessEmulator,
) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    target = Target("Contact", "insert", None, MAPS)
    rows = _rows(4)
    with _client(emulator) as sf:
        created = sf.create("Contact", encode_json_records(rows.slice(0, 3), MAPS))  # k3 never sent
        ids = {f"k{i}": r.id for i, r in enumerate(created)}
        flight = InFlight([f"k{i}" for i in range(4)], cell_table(rows, MAPS), since)
        found = find_written(sf, target, flight, known_ids=[])
        assert (
            dict(
                zip(
                    found.written.column("primary_key").to_pylist(),
                    found.written.column("record_id").to_pylist(),
                    strict=True,
                )
            )
            == ids
        )
        assert set(found.written.column("operation").to_pylist()) == {"created"} and found.missing == ["k3"]

        # a record whose id the store already knows belongs to another row: not taken again
        known = find_written(sf, target, flight, known_ids=[str(ids["k0"])])
        assert sorted(known.missing) == ["k0", "k3"]

        # a record that no longer holds what the row sent is not this row's
        sf.update("Contact", [{"Id": ids["k1"], "LastName": "Somebody else"}])
        changed = find_written(sf, target, flight, known_ids=[])
        assert sorted(changed.missing) == ["k1", "k3"]


def test_upserted_records_are_found_by_key_created_or_updated(emulator: InProcessEmulator) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    target = Target("Contact", "upsert", "External_Id__c", MAPS)
    rows = _rows(3, key=True)
    key = FieldMap(KEY, "External_Id__c")
    with _client(emulator) as sf:
        first = sf.create("Contact", [{"LastName": "Old", "External_Id__c": "ext-0"}])[0]
        sf.upsert("Contact", "External_Id__c", encode_json_records(rows.slice(0, 2), MAPS, key))
        flight = InFlight(["k0", "k1", "k2"], cell_table(rows, MAPS, key), since)
        found = find_written(sf, target, flight, known_ids=[str(first.id)])
        ops = dict(
            zip(
                found.written.column("primary_key").to_pylist(),
                found.written.column("operation").to_pylist(),
                strict=True,
            )
        )
        assert ops == {"k0": "updated", "k1": "created"} and found.missing == ["k2"]


def test_numbers_compare_as_numbers(emulator: InProcessEmulator) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    maps = (
        FieldMap("name", "Name"),
        FieldMap("revenue", "AnnualRevenue"),
        FieldMap("staff", "NumberOfEmployees"),
    )
    rows = pa.table(
        {
            PK: ["a", "b"],
            "name": ["Acme", "Beta"],
            "revenue": pa.array([Decimal("1200.50"), Decimal("300")], pa.decimal128(18, 2)),
            "staff": pa.array([12, 7], pa.int64()),
            **{send_column(m.column): [True, True] for m in maps},
        }
    )
    with _client(emulator) as sf:
        sf.create("Account", encode_json_records(rows, maps))
        found = find_written(
            sf,
            Target("Account", "insert", None, maps),
            InFlight(["a", "b"], cell_table(rows, maps), since),
            known_ids=[],
        )
        assert sorted(found.written.column("primary_key").to_pylist()) == ["a", "b"] and not found.missing


def test_inserted_records_are_read_back_narrowed_by_a_text_field_every_row_sent(
    emulator: InProcessEmulator,
) -> None:
    """The read-back after a large insert asks only for the records whose text field (not e-mail, which
    the org compares without case) holds a value a row sent."""
    with _client(emulator) as sf:
        describe = sf.describe("Contact")
    types = {m.field: _field_type(describe, m.field) for m in MAPS}
    sent = {"k0": {"LastName": "Lee 0", "Email": "a@b.c"}, "k1": {"LastName": "Lee 1", "Email": "d@e.f"}}
    assert _narrowing_field(describe, types, sent) == "LastName"
    assert _narrowing_field(describe, types, {**sent, "k2": {"Email": "g@h.i"}}) is None


def test_inserts_with_a_lookup_are_found_by_their_other_values(emulator: InProcessEmulator) -> None:
    """A lookup's cell holds the parent's key while the record holds the parent's id: the row is found by
    the values of its other fields (the Bulk CSV and the REST journal carry the lookup's column too)."""
    account = Lookup("Account", "External_Id__c", "AccountId", "Account")
    maps = (*MAPS, FieldMap("company", account.header, lookup=account))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    target = Target("Contact", "insert", None, maps)
    rows = _rows(2)
    rows = rows.append_column("company", pa.array(["C-1", "C-1"])).append_column(
        send_column("company"), pa.array([True, True])
    )
    with _client(emulator) as sf:
        sf.create("Account", [{"Name": "Acme", "External_Id__c": "C-1"}])
        created = sf.create("Contact", encode_json_records(rows.slice(0, 1), maps))
        assert created[0].success, created[0]
        cells = cell_table(rows, maps)
        assert account.header in cells.column_names
        found = find_written(sf, target, InFlight(["k0", "k1"], cells, since), known_ids=[])
        assert found.written.column("record_id").to_pylist() == [created[0].id]
        assert found.missing == ["k1"]
