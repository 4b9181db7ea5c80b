"""The warehouse planner's SQL in Snowflake's dialect, run on fakesnow (a local Snowflake fake over DuckDB;
installed by ``make test`` through the dev extra). The planner works through a plain DBAPI connection here:
diff, advance with some keys rejected, a change, a resend, a row leaving the model."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sfsync.sources.base import ModelQuery
from sfsync.state import StateStore
from sfsync.sync.diff import DiffResult
from sfsync.sync.encode import send_column
from sfsync.sync.warehouse.advance import advance_in_warehouse
from sfsync.sync.warehouse.connection import DbapiWarehouse
from sfsync.sync.warehouse.planner import compute_warehouse_diff

fakesnow = pytest.importorskip("fakesnow")
SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("email", pa.string())])


@pytest.fixture
def snow() -> Iterator[Any]:
    import snowflake.connector

    with warnings.catch_warnings(), fakesnow.patch():
        warnings.simplefilter("ignore", UserWarning)  # fakesnow: "Arrow output on a DB-API result ..."
        conn = snowflake.connector.connect(database="db1", schema="public")
        conn.cursor().execute('create table people ("id" int, "name" varchar, "email" varchar)')
        conn.cursor().execute(
            "insert into people values (1, 'Ann', 'a@x.com'), (2, 'Bob', null), (3, 'Cyd', '')"
        )
        conn.commit()
        yield conn
        conn.close()


def _diff(store: StateStore, wh: DbapiWarehouse) -> DiffResult:
    return compute_warehouse_diff(
        store,
        wh,
        "people",
        ModelQuery(source="snow", model="people", sql="select * from people"),
        SCHEMA,
        primary_key="id",
        columns=["name", "email", "owner"],
        constants={"owner": "sfsync"},
        planner_schema="sfsync_planner",
    )


def _rows(diff: DiffResult) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in diff.read_all().to_pylist()}


def test_diff_and_advance_in_snowflake_dialect(snow: Any, tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / ".sfsync")
    wh = DbapiWarehouse("snow", snow, "snowflake")
    first = _diff(store, wh)
    assert (first.counts.new, first.counts.changed, first.counts.rows) == (3, 0, 3)
    rows = _rows(first)
    assert rows[3]["email"] is None  # empty text counts as null, as in the local planner
    assert rows[1]["owner"] == "sfsync"  # a constant is a column too
    advance_in_warehouse(store, wh, first, pa.array(["1", "2"]))  # row 3 rejected

    cur = snow.cursor()
    cur.execute('update people set "email" = \'new@x.com\' where "id" = 1')
    snow.commit()
    second = _diff(store, wh)
    assert (second.counts.new, second.counts.changed, second.counts.unchanged, second.counts.resent) == (
        1,
        1,
        1,
        1,
    )
    rows = _rows(second)
    assert rows[1]["_sfsync_kind"] == "changed"
    assert (rows[1][send_column("email")], rows[1][send_column("name")]) == (True, False)
    assert rows[3]["_sfsync_kind"] == "new" and rows[3]["_sfsync_resend"] is True
    advance_in_warehouse(store, wh, second, pa.array(["1", "3"]))

    cur.execute('delete from people where "id" = 2')
    snow.commit()
    third = _diff(store, wh)
    assert (third.counts.new, third.counts.changed, third.counts.gone, third.counts.to_send) == (0, 0, 1, 0)
    info = advance_in_warehouse(store, wh, third, pa.array([], pa.string()))
    assert (info.rows, info.rejected, info.generation) == (2, 0, 3)
    store.close()
