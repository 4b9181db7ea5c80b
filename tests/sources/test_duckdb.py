"""DuckDB file and CSV/Parquet sources: logical types, segment pushdown, projection, counts, errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfsync.errors import SourceError
from sfsync.sources import LogicalType, open_source, query_for
from tests.sources.conftest import project_with

L = LogicalType

# column -> (DuckDB type, literal value, expected logical type)
DUCKDB_TYPES: dict[str, tuple[str, str, LogicalType]] = {
    "c_boolean": ("BOOLEAN", "true", L.BOOLEAN),
    "c_tinyint": ("TINYINT", "-7", L.INTEGER),
    "c_smallint": ("SMALLINT", "300", L.INTEGER),
    "c_integer": ("INTEGER", "70000", L.INTEGER),
    "c_bigint": ("BIGINT", "9000000000", L.INTEGER),
    "c_hugeint": ("HUGEINT", "170141183460469231731687303715884105727", L.INTEGER),
    "c_utinyint": ("UTINYINT", "250", L.INTEGER),
    "c_usmallint": ("USMALLINT", "65000", L.INTEGER),
    "c_uinteger": ("UINTEGER", "4000000000", L.INTEGER),
    "c_ubigint": ("UBIGINT", "18000000000000000000", L.INTEGER),
    "c_uhugeint": ("UHUGEINT", "12345", L.INTEGER),
    "c_float": ("FLOAT", "1.5", L.FLOAT),
    "c_double": ("DOUBLE", "2.25", L.FLOAT),
    "c_decimal": ("DECIMAL(18,4)", "12345.6789", L.DECIMAL),
    "c_decimal0": ("DECIMAL(12,0)", "123456789012", L.INTEGER),
    "c_varchar": ("VARCHAR", "'Zoë, \"the\" O''Brien\nline'", L.TEXT),
    "c_date": ("DATE", "'2024-02-29'", L.DATE),
    "c_timestamp": ("TIMESTAMP", "'2024-02-29 10:11:12.123456'", L.TIMESTAMP),
    "c_timestamp_s": ("TIMESTAMP_S", "'2024-02-29 10:11:12'", L.TIMESTAMP),
    "c_timestamp_ms": ("TIMESTAMP_MS", "'2024-02-29 10:11:12.123'", L.TIMESTAMP),
    "c_timestamp_ns": ("TIMESTAMP_NS", "'2024-02-29 10:11:12.123456789'", L.TIMESTAMP),
    "c_timestamptz": ("TIMESTAMPTZ", "'2024-02-29 10:11:12+02'", L.TIMESTAMP),
    "c_time": ("TIME", "'10:11:12'", L.TIME),
    "c_timetz": ("TIMETZ", "'10:11:12+02'", L.TIME),
    "c_uuid": ("UUID", "'7d3c2a30-0f1e-4c5b-9a8d-1e2f3a4b5c6d'", L.TEXT),
    "c_json": ("JSON", "'{\"a\": [1, 2]}'", L.TEXT),
    "c_blob": ("BLOB", "'\\xAA\\xBB'::BLOB", L.TEXT),
    "c_interval": ("INTERVAL", "INTERVAL 3 DAY", L.TEXT),
    "c_list": ("INTEGER[]", "[1, 2, 3]", L.TEXT),
    "c_struct": ("STRUCT(a INTEGER, b VARCHAR)", "{'a': 1, 'b': 'x'}", L.TEXT),
    "c_map": ("MAP(VARCHAR, INTEGER)", "MAP {'k': 1}", L.TEXT),
    "c_enum": ("mood", "'happy'", L.TEXT),
    "c_bit": ("BIT", "'1011'::BIT", L.TEXT),
}


@pytest.fixture
def typed_db(tmp_path: Path) -> Path:
    path = tmp_path / "types.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create type mood as enum ('happy', 'sad')")
    cols = ", ".join(f"{name} {t}" for name, (t, _, _) in DUCKDB_TYPES.items())
    con.execute(f"create table everything (id integer, {cols})")
    values = ", ".join(v for _, v, _ in DUCKDB_TYPES.values())
    con.execute(f"insert into everything values (1, {values})")
    con.execute("insert into everything (id) values (2)")  # a row of nulls
    con.close()
    return path


def test_every_duckdb_type_maps_to_its_logical_type(typed_db: Path) -> None:
    project = project_with({"type": "duckdb", "path": str(typed_db)}, {"all": {"table": "everything"}})
    with open_source(project, "src") as source:
        columns = source.columns(query_for(project, "all"))
        table = source.read(query_for(project, "all")).read_all()
    assert columns == {"id": L.INTEGER, **{name: lt for name, (_, _, lt) in DUCKDB_TYPES.items()}}
    row, nulls = table.to_pylist()
    assert all(v is None for k, v in nulls.items() if k != "id")
    assert row["c_varchar"] == 'Zoë, "the" O\'Brien\nline'
    assert row["c_decimal"] == Decimal("12345.6789")
    assert row["c_hugeint"] == 170141183460469231731687303715884105727
    assert row["c_date"] == dt.date(2024, 2, 29)
    assert row["c_timestamp"] == dt.datetime(2024, 2, 29, 10, 11, 12, 123456)
    assert row["c_timestamptz"] == dt.datetime(2024, 2, 29, 8, 11, 12, tzinfo=dt.UTC)
    assert row["c_time"] == dt.time(10, 11, 12)
    assert row["c_uuid"] == "7d3c2a30-0f1e-4c5b-9a8d-1e2f3a4b5c6d"
    assert row["c_enum"] == "happy" and row["c_list"] == "[1, 2, 3]"


@pytest.fixture
def people_db(tmp_path: Path) -> Path:
    path = tmp_path / "people.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "create table people as select i as id, 'name ' || i as name, "
        "case when i % 4 = 0 then 'FR' else 'DE' end as country, (i * 10)::decimal(12,2) as ltv "
        "from range(10000) t(i)"
    )
    con.close()
    return path


def test_segment_filter_and_projection_are_pushed_down(people_db: Path) -> None:
    project = project_with(
        {"type": "duckdb", "path": str(people_db)},
        {"people": {"sql": "select * from people;"}},
        {"fr_rich": {"model": "people", "where": "country = 'FR' and ltv >= 50000"}},
    )
    query = query_for(project, "fr_rich", ["id", "ltv"])
    assert "where (country = 'FR' and ltv >= 50000)" in query.compose(lambda c: c)
    with open_source(project, "src") as source:
        assert source.count_rows(query) == 1250
        table = source.read(query, batch_rows=100).read_all()
        plan = (
            duckdb.connect(str(people_db), read_only=True)
            .sql("explain " + query.compose(lambda c: f'"{c}"'))
            .fetchall()
        )
    assert table.column_names == ["id", "ltv"] and table.num_rows == 1250
    assert min(table.column("ltv").to_pylist()) >= 50000
    plan_text = str(plan)
    assert "Filters" in plan_text or "FILTER" in plan_text.upper()


def test_batches_are_bounded_and_preview_limits(people_db: Path) -> None:
    project = project_with({"type": "duckdb", "path": str(people_db)}, {"people": {"table": "people"}})
    query = query_for(project, "people")
    with open_source(project, "src") as source:
        sizes = [b.num_rows for b in source.read(query, batch_rows=999)]
        preview = source.preview(query, 5)
    assert sum(sizes) == 10000 and max(sizes) <= 999
    assert preview.num_rows == 5 and preview.column_names == ["id", "name", "country", "ltv"]


def test_missing_column_bad_sql_and_missing_file_name_the_model_and_fix(
    people_db: Path, tmp_path: Path
) -> None:
    project = project_with(
        {"type": "duckdb", "path": str(people_db)},
        {"people": {"table": "people"}, "broken": {"sql": "select * from no_such_table"}},
    )
    with open_source(project, "src") as source:
        with pytest.raises(SourceError) as info:
            source.read(query_for(project, "people", ["id", "emial"]))
        assert "model 'people' of source 'src' has no column 'emial'" in str(info.value)
        assert "id, name, country, ltv" in (info.value.hint or "")
        with pytest.raises(SourceError) as info:
            source.count_rows(query_for(project, "broken"))
        assert info.value.model == "broken" and "no_such_table" in str(info.value)
    missing = project_with({"type": "duckdb", "path": str(tmp_path / "nope.duckdb")}, {"m": {"table": "t"}})
    with pytest.raises(SourceError, match="does not exist") as info:
        open_source(missing, "src")
    assert "sources.src.path" in (info.value.hint or "")


def test_relative_duckdb_path_resolves_against_the_project_file(people_db: Path) -> None:
    from sfsync.config import load_project

    (people_db.parent / "sfsync.yml").write_text(
        "version: 1\nsources: {w: {type: duckdb, path: people.duckdb}}\n"
        "models: {p: {source: w, kind: user, primary_key: id, table: people}}\n"
    )
    project = load_project(people_db.parent / "sfsync.yml")
    with open_source(project, "w") as source:
        source.test_connection()
        assert source.count_rows(query_for(project, "p")) == 10000


AWKWARD = [
    {"id": 1, "name": 'Zoë "Z" O\'Brien', "note": "a, b\nc", "amount": "1.50"},
    {"id": 2, "name": "Łukasz", "note": None, "amount": None},
    {"id": 3, "name": "", "note": "x" * 5000, "amount": "-3.25"},
]


def test_csv_directory_source_reads_each_file_as_a_table(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pa_table = pa.table(
        {
            "id": [r["id"] for r in AWKWARD],
            "name": [r["name"] for r in AWKWARD],
            "note": [r["note"] for r in AWKWARD],
            "amount": [r["amount"] for r in AWKWARD],
        }
    )
    import pyarrow.csv as pacsv

    pacsv.write_csv(pa_table, data / "customers.csv")
    (data / "other.csv").write_text("id;flag\n1;true\n2;false\n")
    project = project_with(
        {"type": "csv", "path": str(data)},
        {"customers": {"table": "customers"}},
        {"named": {"model": "customers", "where": "name <> ''"}},
    )
    with open_source(project, "src") as source:
        rows = source.read(query_for(project, "customers")).read_all().to_pylist()
        assert source.count_rows(query_for(project, "named")) == 2
        columns = source.columns(query_for(project, "customers"))
    assert rows[0]["name"] == 'Zoë "Z" O\'Brien' and rows[0]["note"] == "a, b\nc"
    assert rows[1]["note"] is None and len(rows[2]["note"]) == 5000
    assert columns["id"] == L.INTEGER and columns["name"] == L.TEXT and columns["amount"] == L.FLOAT


def test_csv_delimiter_option(tmp_path: Path) -> None:
    (tmp_path / "flags.csv").write_text("id;flag\n1;true\n2;false\n")
    project = project_with(
        {"type": "csv", "path": str(tmp_path / "flags.csv"), "delimiter": ";"}, {"f": {"table": "flags"}}
    )
    with open_source(project, "src") as source:
        assert source.columns(query_for(project, "f")) == {"id": L.INTEGER, "flag": L.BOOLEAN}


@pytest.mark.parametrize("bad_line", [4, 30_000])  # inside DuckDB's sniffing sample, and far past it
def test_a_bad_utf8_byte_names_its_line_and_the_encoding_option(tmp_path: Path, bad_line: int) -> None:
    lines = ["id,name"] + [f"{i},Person {i}" for i in range(1, 40_000)]
    data = "\n".join(lines).encode() + b"\n"
    rows = data.split(b"\n")
    rows[bad_line - 1] = f"{bad_line - 1},Ca".encode() + b"\xe9sar"  # latin-1, not utf-8
    (tmp_path / "people.csv").write_bytes(b"\n".join(rows))
    project = project_with({"type": "csv", "path": str(tmp_path / "people.csv")}, {"p": {"table": "people"}})
    with pytest.raises(SourceError) as info, open_source(project, "src") as source:
        source.read(query_for(project, "p")).read_all()
    assert f"people.csv line {bad_line} is not valid utf-8 text (bytes b'\\xe9')" in info.value.message
    assert "sources.src.encoding" in (info.value.hint or "")
    latin = project_with(
        {"type": "csv", "path": str(tmp_path / "people.csv"), "encoding": "latin-1"},
        {"p": {"table": "people"}},
    )
    with open_source(latin, "src") as source:
        names = source.read(query_for(latin, "p")).read_all().column("name").to_pylist()
    assert names[bad_line - 2] == "Caésar" and len(names) == 39_999


def test_parquet_glob_source(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1, 2], "when": [dt.date(2024, 1, 1), None]}), tmp_path / "events.parquet")
    project = project_with(
        {"type": "parquet", "path": str(tmp_path / "*.parquet")}, {"e": {"table": "events"}}
    )
    with open_source(project, "src") as source:
        assert source.columns(query_for(project, "e")) == {"id": L.INTEGER, "when": L.DATE}
        assert source.preview(query_for(project, "e"), 1).num_rows == 1
    empty = project_with(
        {"type": "parquet", "path": str(tmp_path / "none" / "*.parquet")}, {"e": {"table": "x"}}
    )
    with pytest.raises(SourceError, match=r"no \.parquet file"):
        open_source(empty, "src")
