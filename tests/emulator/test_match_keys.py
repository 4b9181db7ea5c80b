"""The in-memory match keys duplicate rules find candidates with (sfsync/emulator/records/match_keys.py):
the hash table, the id ↔ number mapping, and the promise that matters, "a superset of the saved keys",
through the record engine: writes without rules, edits that change a key, a reopened database file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsync.emulator.metadata.schema import default_org
from sfsync.emulator.records.match_keys import KeyTable, RecordNumbers, fold_text, phone_digits
from sfsync.emulator.records.org import Org
from sfsync.emulator.records.results import SaveResult
from sfsync.emulator.records.store import ID_POD, mint_range
from sfsync.emulator.records.write_rules import BULK_DEFAULT, REST_DEFAULT, WriteRules

ANN = {"FirstName": "Ann", "LastName": "Lee", "Email": "ann@acme.example"}


def test_key_table_keeps_every_pair_once_and_survives_growing() -> None:
    table = KeyTable()
    table.add_many(list(range(1, 5001)), [n * 10 for n in range(1, 5001)])
    table.add(7, 999)  # a second record under one hash
    table.add(7, 70)  # already there
    assert table.size == 5001
    assert sorted(table.find(7)) == [70, 999]
    assert table.find(1) == [10] and table.find(5000) == [50000] and table.find(6000) == []
    # hashes that share a slot (same low bits) are told apart
    table.add_many([1 << 40, (1 << 40) + 1 << 20], [1, 2])
    assert table.find(1 << 40) == [1] and table.find((1 << 40) + 1 << 20) == [2]


def test_record_numbers_round_trip_minted_ids_and_keep_other_ids_as_text() -> None:
    numbers = RecordNumbers("003")
    for n in (1, 61, 62, 3843, 3844, 3845, 10**9, 62**10 - 1):
        rid = mint_range("003" + ID_POD, n, 1)[0]
        assert numbers.number(rid) == n
        assert numbers.record_id(n) == rid
    odd = "003000000000001AAA"  # another pod: not minted here
    k = numbers.number(odd)
    assert k < 0 and numbers.number(odd) == k and numbers.record_id(k) == odd


def test_text_ignores_case_and_extra_white_space_phones_compare_digits() -> None:
    assert fold_text("  Ann\tLEE  ") == fold_text("ann lee") == "ann lee"
    assert fold_text("STRASSE") == fold_text("straße")  # Unicode case folding
    assert fold_text("   ") is None and fold_text(None) is None
    assert phone_digits("(415) 555-0100") == phone_digits("+415.555.0100") == "4155550100"
    assert phone_digits("n/a") is None


def refused(results: list[SaveResult]) -> list[bool]:
    return [not r.success and r.errors[0].status_code == "DUPLICATES_DETECTED" for r in results]


def test_records_written_without_rules_are_still_found_later() -> None:
    org = Org(default_org())
    org.create("Contact", [ANN])  # rules=None: an internal write, no automation
    assert refused(org.create("Contact", [ANN], rules=REST_DEFAULT)) == [True]


def test_an_edit_that_changes_a_key_moves_the_record_to_its_new_key() -> None:
    org = Org(default_org())
    [bob] = org.create("Contact", [{"FirstName": "Bob", "LastName": "Ray", "Email": "b@x.example"}])
    # standard rules only report on edit, so the edit is saved; the record now has Ann's key
    [edit] = org.update([{"Id": bob.id, "FirstName": "Ann", "LastName": "Lee"}], obj="Contact")
    assert edit.success
    org.update([{"Id": bob.id, "Email": "ann@acme.example"}], obj="Contact", rules=REST_DEFAULT)
    assert refused(org.create("Contact", [ANN], rules=REST_DEFAULT)) == [True]
    bob_again = {"FirstName": "Bob", "LastName": "Ray", "Email": "b@x.example"}
    assert refused(org.create("Contact", [bob_again], rules=REST_DEFAULT)) == [False]


def test_a_deleted_record_is_no_duplicate() -> None:
    org = Org(default_org())
    [first] = org.create("Contact", [ANN])
    org.delete([str(first.id)])
    assert refused(org.create("Contact", [ANN], rules=REST_DEFAULT)) == [False]


def test_a_reopened_database_file_finds_the_records_saved_before(tmp_path: Path) -> None:
    db = str(tmp_path / "org.db")
    first = Org(default_org(), db_path=db)
    header = ["FirstName", "LastName", "Email"]
    rows = [[f"F{i}", f"L{i}", f"p{i}@x.example"] for i in range(25_000)]  # several 10,000-row chunks
    assert all(r.error is None for r in first.bulk_load("Contact", "insert", None, header, rows))
    first.close()
    again = Org(default_org(), db_path=db)
    results = again.bulk_load("Contact", "insert", None, header, [rows[3], rows[24_999]], rules=BULK_DEFAULT)
    assert [r.error.status_code if r.error else None for r in results] == ["DUPLICATES_DETECTED"] * 2


@pytest.mark.parametrize("rules", [BULK_DEFAULT, None])
def test_bulk_chunks_are_compared_with_the_chunks_before(rules: WriteRules | None) -> None:
    org = Org(default_org())
    header = ["FirstName", "LastName", "Email"]
    rows = [[f"F{i}", f"L{i}", f"p{i}@x.example"] for i in range(10_000)] + [["f0", "l0", "P0@x.example"]]
    results = org.bulk_load("Contact", "insert", None, header, rows, rules=rules)
    last = results[-1].error
    assert (last.status_code if last else None) == ("DUPLICATES_DETECTED" if rules else None)
