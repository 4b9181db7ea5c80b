"""SQLAlchemy URL source (SQLite needs no server; PostgreSQL through SQLAlchemy is in test_postgres.py)."""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path

import pytest

from sfsync.errors import SourceError
from sfsync.sources import LogicalType, open_source, query_for
from tests.sources.conftest import project_with

L = LogicalType


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "crm.sqlite"
    con = sqlite3.connect(path)
    con.execute(
        "create table accounts (id integer primary key, name text, revenue real, active integer, note text)"
    )
    con.executemany(
        "insert into accounts values (?, ?, ?, ?, ?)",
        [(i, f'Company {i}: O\'Neil, "quoted"', i * 1.5, i % 2, None) for i in range(1, 5001)],
    )
    con.commit()
    con.close()
    return path


def test_sqlite_url_streams_in_batches_with_inferred_types(sqlite_db: Path) -> None:
    project = project_with(
        {"type": "sqlalchemy", "url": f"sqlite:///{sqlite_db}"},
        {"accounts": {"table": "accounts"}},
        {"active": {"model": "accounts", "where": "active = 1 and name like 'Company%'"}},
    )
    query = query_for(project, "active")
    with open_source(project, "src") as source:
        source.test_connection()
        assert source.columns(query) == {
            "id": L.INTEGER,
            "name": L.TEXT,
            "revenue": L.FLOAT,
            "active": L.INTEGER,
            "note": L.TEXT,
        }
        assert source.count_rows(query) == 2500
        batches = list(source.read(query.with_columns(["id", "name"]), batch_rows=700))
        preview = source.preview(query, 2)
    assert sum(b.num_rows for b in batches) == 2500 and max(b.num_rows for b in batches) <= 700
    assert batches[0].schema.names == ["id", "name"]
    assert batches[0].column("name")[0].as_py() == 'Company 1: O\'Neil, "quoted"'
    assert preview.num_rows == 2


def test_missing_dialect_names_the_extra_to_install() -> None:
    project = project_with(
        {"type": "sqlalchemy", "url": "snowflake://me:${X}@acct/db".replace("${X}", "pw-123")},
        {"m": {"table": "t"}},
    )
    try:
        importlib.import_module("snowflake.sqlalchemy")
    except ImportError:
        pass
    else:  # pragma: no cover
        pytest.skip("snowflake-sqlalchemy is installed here")
    with pytest.raises(SourceError) as info:
        open_source(project, "src")
    assert "sfsync[snowflake]" in (info.value.hint or "")
    assert "pw-123" not in str(info.value)


def test_bad_query_names_model_and_source(sqlite_db: Path) -> None:
    project = project_with(
        {"type": "sqlalchemy", "url": f"sqlite:///{sqlite_db}"}, {"bad": {"sql": "select nope from accounts"}}
    )
    with open_source(project, "src") as source, pytest.raises(SourceError) as info:
        source.columns(query_for(project, "bad"))
    assert "model 'bad' of source 'src'" in str(info.value) and "nope" in str(info.value)


def test_a_column_changing_type_after_the_sample_says_to_cast(tmp_path: Path) -> None:
    path = tmp_path / "mixed.sqlite"
    con = sqlite3.connect(path)
    con.execute("create table t (id integer, v)")
    con.executemany("insert into t values (?, ?)", [(i, i) for i in range(1500)] + [(1500, "not a number")])
    con.commit()
    con.close()
    project = project_with(
        {"type": "sqlalchemy", "url": f"sqlite:///{path}"}, {"t": {"sql": "select * from t order by id"}}
    )
    with open_source(project, "src") as source:
        assert source.columns(query_for(project, "t"))["v"] == L.INTEGER
        with pytest.raises(SourceError) as info:
            source.read(query_for(project, "t")).read_all()
    assert "CAST" in (info.value.hint or "") and info.value.model == "t"
