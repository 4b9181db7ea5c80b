"""The demo warehouse: generated from a fixed seed, so every demo starts from the same rows."""

from __future__ import annotations

from pathlib import Path

import duckdb

from sfsync.demo_data import write_demo_warehouse


def test_demo_data_is_the_same_every_time(tmp_path: Path) -> None:
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    assert write_demo_warehouse(a, people=50, companies=10) == {
        "companies": 10,
        "people": 50,
        "contracts": 300,
        "tickets": 400,
    }
    write_demo_warehouse(b, people=50, companies=10)
    for table, key in (("people", "person_id"), ("contracts", "contract_id"), ("tickets", "ticket_id")):
        rows = [
            duckdb.connect(str(p), read_only=True).sql(f"select * from {table} order by {key}").fetchall()
            for p in (a, b)
        ]
        assert rows[0] == rows[1]
    con = duckdb.connect(str(a), read_only=True)  # every ticket's company is its person's company
    assert con.execute(
        "select count(*) from tickets t join people p using (person_id) where t.company_id <> p.company_id"
    ).fetchall() == [(0,)]
