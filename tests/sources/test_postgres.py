"""PostgreSQL source against a real throwaway server: types, pushdown, projection, counts, errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest

from sfsync.errors import SourceError
from sfsync.sources import LogicalType, open_source, query_for
from tests.sources.conftest import project_with

L = LogicalType
pytestmark = pytest.mark.postgres

# column -> (PostgreSQL type, literal, expected logical type)
PG_TYPES: dict[str, tuple[str, str, LogicalType]] = {
    "c_boolean": ("boolean", "true", L.BOOLEAN),
    "c_smallint": ("smallint", "-300", L.INTEGER),
    "c_integer": ("integer", "70000", L.INTEGER),
    "c_bigint": ("bigint", "9000000000", L.INTEGER),
    "c_real": ("real", "1.5", L.FLOAT),
    "c_double": ("double precision", "2.25", L.FLOAT),
    "c_numeric": ("numeric(10,2)", "12345.67", L.DECIMAL),
    "c_numeric0": ("numeric(12,0)", "123456789012", L.INTEGER),
    "c_numeric_any": ("numeric", "3.14159265358979", L.DECIMAL),
    "c_numeric_wide": ("numeric(50,5)", "1.5", L.DECIMAL),
    "c_money": ("money", "12.34", L.DECIMAL),
    "c_text": ("text", "'Zoë, \"the\" O''Brien' || chr(10) || 'line'", L.TEXT),
    "c_varchar": ("varchar(10)", "'short'", L.TEXT),
    "c_char": ("char(3)", "'ab'", L.TEXT),
    "c_name": ("name", "'pg_name'", L.TEXT),
    "c_qchar": ('"char"', "'x'", L.TEXT),
    "c_date": ("date", "'2024-02-29'", L.DATE),
    "c_time": ("time", "'10:11:12.5'", L.TIME),
    "c_timetz": ("timetz", "'10:11:12+02'", L.TIME),
    "c_timestamp": ("timestamp", "'2024-02-29 10:11:12.123456'", L.TIMESTAMP),
    "c_timestamptz": ("timestamptz", "'2024-02-29 10:11:12+02'", L.TIMESTAMP),
    "c_uuid": ("uuid", "'7d3c2a30-0f1e-4c5b-9a8d-1e2f3a4b5c6d'", L.TEXT),
    "c_json": ("json", "'{\"a\": [1, 2]}'", L.TEXT),
    "c_jsonb": ("jsonb", "'{\"a\": 1}'", L.TEXT),
    "c_bytea": ("bytea", "'\\xaabb'", L.TEXT),
    "c_interval": ("interval", "'3 days'", L.TEXT),
    "c_array": ("integer[]", "'{1,2,3}'", L.TEXT),
    "c_inet": ("inet", "'10.0.0.1'", L.TEXT),
    "c_enum": ("mood", "'happy'", L.TEXT),
    "c_oid": ("oid", "42", L.INTEGER),
    "c_bit": ("bit(4)", "B'1011'", L.TEXT),
    "c_point": ("point", "'(1,2)'", L.TEXT),
}


@pytest.fixture
def pg(postgres_url: str) -> Iterator[str]:
    """The server's URL with a fresh schema of test tables (dropped afterwards)."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("drop schema if exists t cascade")
        conn.execute("drop type if exists mood")
        conn.execute("create schema t")
        conn.execute("create type mood as enum ('happy', 'sad')")
        cols = ", ".join(f"{n} {t}" for n, (t, _, _) in PG_TYPES.items())
        conn.execute(f"create table t.everything (id integer primary key, {cols})".encode())
        values = ", ".join(v for _, v, _ in PG_TYPES.values())
        conn.execute(f"insert into t.everything values (1, {values})".encode())
        conn.execute("insert into t.everything (id) values (2)")
        conn.execute(
            "create table t.people as select i as id, 'name ' || i as name, "
            "case when i % 4 = 0 then 'FR' else 'DE' end as country, (i * 10)::numeric(12,2) as ltv "
            "from generate_series(0, 9999) i"
        )
    yield postgres_url
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("drop schema t cascade")
        conn.execute("drop type mood")


def test_every_postgres_type_maps_to_its_logical_type(pg: str) -> None:
    project = project_with(
        {"type": "postgres", "url": pg}, {"all": {"sql": "select * from t.everything order by id"}}
    )
    with open_source(project, "src") as source:
        columns = source.columns(query_for(project, "all"))
        row, nulls = source.read(query_for(project, "all")).read_all().to_pylist()
    assert columns == {"id": L.INTEGER, **{n: lt for n, (_, _, lt) in PG_TYPES.items()}}
    assert all(v is None for k, v in nulls.items() if k != "id")
    assert row["c_text"] == 'Zoë, "the" O\'Brien\nline'
    assert row["c_numeric"] == Decimal("12345.67") and row["c_money"] == Decimal("12.34")
    # numeric without precision is read as numeric(38, UNCONSTRAINED_NUMERIC_SCALE), rounded by the server
    assert row["c_numeric_any"] == Decimal("3.1415926536")
    assert row["c_timestamptz"] == dt.datetime(2024, 2, 29, 8, 11, 12, tzinfo=dt.UTC)
    assert row["c_timestamp"] == dt.datetime(2024, 2, 29, 10, 11, 12, 123456)
    assert row["c_time"] == dt.time(10, 11, 12, 500000) and row["c_timetz"] == dt.time(10, 11, 12)
    assert row["c_uuid"] == "7d3c2a30-0f1e-4c5b-9a8d-1e2f3a4b5c6d" and row["c_enum"] == "happy"
    assert row["c_array"] == "{1,2,3}" and row["c_oid"] == 42 and row["c_char"] == "ab "


def test_segment_filter_runs_in_postgres_and_only_needed_columns_are_read(pg: str) -> None:
    # `~*` (case-insensitive regex) exists only in PostgreSQL: the filter is evaluated by the server
    project = project_with(
        {"type": "postgres", "url": pg},
        {"people": {"table": "t.people"}},
        {"fr_rich": {"model": "people", "where": "country ~* '^fr$' and ltv >= 50000"}},
    )
    query = query_for(project, "fr_rich", ["id", "ltv"])
    with open_source(project, "src") as source:
        assert source.count_rows(query) == 1250
        batches = list(source.read(query, batch_rows=300))
        preview = source.preview(query, 3)
    assert max(b.num_rows for b in batches) <= 300 and sum(b.num_rows for b in batches) == 1250
    assert batches[0].schema.names == ["id", "ltv"]
    assert all(v >= 50000 for b in batches for v in b.column("ltv").to_pylist())
    assert preview.num_rows == 3


def test_errors_name_the_model_and_never_the_password(pg: str) -> None:
    project = project_with(
        {"type": "postgres", "url": pg},
        {"people": {"table": "t.people"}, "broken": {"sql": "select * from t.no_such_table"}},
    )
    with open_source(project, "src") as source:
        with pytest.raises(SourceError) as info:
            source.count_rows(query_for(project, "broken"))
        assert info.value.model == "broken" and "no_such_table" in str(info.value)
        with pytest.raises(SourceError, match="has no column 'nope'"):
            source.read(query_for(project, "people", ["id", "nope"]))
    port = pg.rsplit(":", 1)[1].split("/")[0]
    wrong = project_with(
        {
            "type": "postgres",
            "url": f"postgresql://ghost:s3cr3t-pw@127.0.0.1:{port}/nodb",
            "connect_timeout_seconds": 3,
        },
        {"m": {"table": "x"}},
    )
    with open_source(wrong, "src") as source, pytest.raises(SourceError) as info:
        source.test_connection()
    text = str(info.value)
    assert "cannot connect to PostgreSQL" in text and "s3cr3t-pw" not in text and "***" in text


def test_sqlalchemy_source_reads_postgres_through_its_url(pg: str) -> None:
    url = pg.replace("postgresql://", "postgresql+psycopg://")
    project = project_with(
        {"type": "sqlalchemy", "url": url},
        {"people": {"table": "t.people"}},
        {"fr": {"model": "people", "where": "country = 'FR'"}},
    )
    query = query_for(project, "fr", ["id", "name", "ltv"])
    with open_source(project, "src") as source:
        source.test_connection()
        assert source.columns(query) == {"id": L.INTEGER, "name": L.TEXT, "ltv": L.DECIMAL}
        assert source.count_rows(query) == 2500
        sizes = [b.num_rows for b in source.read(query, batch_rows=1000)]
    assert sum(sizes) == 2500 and max(sizes) <= 1000


def test_empty_strings_nulls_and_awkward_text_survive_copy(pg: str) -> None:
    values = [
        "",
        None,
        '"',
        ",",
        "a\nb",
        "\\N",
        "back\\slash",
        "tab\there",
        'Zoë O\'Brien, "Jr."',
        "x" * 100_000,
    ]
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute("create table t.awkward (id integer, s text, flag boolean)")
        with conn.cursor() as cur:
            cur.executemany(
                "insert into t.awkward values (%s, %s, %s)",
                [(i, v, None if v is None else i % 2 == 0) for i, v in enumerate(values)],
            )
    project = project_with(
        {"type": "postgres", "url": pg}, {"a": {"sql": "select * from t.awkward order by id"}}
    )
    with open_source(project, "src") as source:
        rows = source.read(query_for(project, "a")).read_all().to_pylist()
    assert [r["s"] for r in rows] == values
    assert [r["flag"] for r in rows][:3] == [True, None, True]
