"""The demo warehouse: generated from a fixed seed, so every demo starts from the same rows."""

from __future__ import annotations

from pathlib import Path

import duckdb

from sfsync.demo_data import write_demo_warehouse


def test_demo_data_is_the_same_every_time(tmp_path: Path) -> None:
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    assert write_demo_warehouse(a, people=50, companies=10) == {"companies": 10, "people": 50}
    write_demo_warehouse(b, people=50, companies=10)
    rows = [
        duckdb.connect(str(p), read_only=True).sql("select * from people order by person_id").fetchall()
        for p in (a, b)
    ]
    assert rows[0] == rows[1]
