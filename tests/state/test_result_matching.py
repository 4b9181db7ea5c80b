"""Bulk result rows mapped back to primary keys (``sfsync.sync.load``): in upload order, shuffled, with
identical rows, and from key files written by earlier sfsync versions. These feed the row results store."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sfsync.sync.encode import FieldMap
from sfsync.sync.load import Uploaded, iter_chunks, match_results
from sfsync.sync.target import KEY, PK, Target

COLUMNS = ["External_Id__c", "LastName"]


def _chunk(tmp_path: Path) -> Path:
    target = Target("Contact", "upsert", "External_Id__c", (FieldMap("last", "LastName"),))
    rows = pa.table(
        {
            PK: ["p1", "p2", "p3", "p4", "p5"],
            KEY: ["e1", "e2", "e3", "e3", "e5"],  # p3 and p4 upload identical CSV rows
            "last": ['Smith, "J"', "Doe\nline 2", "Same", "Same", None],
            "__send__last": [True, True, True, True, True],
        }
    )
    chunks = list(iter_chunks(target, rows.to_batches(), tmp_path / "bulk", 100_000_000))
    assert len(chunks) == 1 and chunks[0].rows == 5
    return chunks[0].keys_path


def _results(order: list[int]) -> pa.Table:
    ext = ["e1", "e2", "e3", "e3", "e5"]
    last = ['Smith, "J"', "Doe\nline 2", "Same", "Same", "#N/A"]
    return pa.table(
        {
            "sf__Id": [f"003{i}" for i in order],
            "sf__Created": ["true"] * len(order),
            "External_Id__c": [ext[i] for i in order],
            "LastName": [last[i] for i in order],
        }
    )


def test_results_in_upload_order_take_the_keys_as_they_are(tmp_path: Path) -> None:
    up = Uploaded.read(_chunk(tmp_path))
    matched = match_results(up, _results([0, 1, 2, 3, 4]), COLUMNS)
    assert matched.column("__pk").to_pylist() == ["p1", "p2", "p3", "p4", "p5"]


def test_shuffled_and_partial_results_match_by_their_cells(tmp_path: Path) -> None:
    up = Uploaded.read(_chunk(tmp_path))
    order = [4, 2, 0, 3, 1]
    random.Random(5).shuffle(order)
    matched = match_results(up, _results(order), COLUMNS)
    by_id = dict(zip(matched.column("sf__Id").to_pylist(), matched.column("__pk").to_pylist(), strict=True))
    assert {k: v for k, v in by_id.items() if k not in ("0032", "0033")} == {
        "0030": "p1",
        "0031": "p2",
        "0034": "p5",
    }
    assert sorted([by_id["0032"], by_id["0033"]]) == ["p3", "p4"]  # identical rows: each key once
    partial = match_results(up, _results([4, 1]), COLUMNS)
    assert partial.column("__pk").to_pylist() == ["p5", "p2"]


def test_key_files_of_earlier_versions_still_match(tmp_path: Path) -> None:
    keys_path = _chunk(tmp_path)
    sep = "\x1f"
    sigs = ["e1" + sep + 'Smith, "J"', "e2" + sep + "Doe\nline 2", "e3" + sep + "Same", "e3" + sep + "Same"]
    pq.write_table(
        pa.table({"__pk": ["p1", "p2", "p3", "p4", "p5"], "__sig": [*sigs, "e5" + sep + "#N/A"]}), keys_path
    )
    up = Uploaded.read(keys_path)
    assert match_results(up, _results([0, 1, 2, 3, 4]), COLUMNS).column("__pk").to_pylist() == [
        "p1",
        "p2",
        "p3",
        "p4",
        "p5",
    ]
    assert match_results(up, _results([4, 0]), COLUMNS).column("__pk").to_pylist() == ["p5", "p1"]
