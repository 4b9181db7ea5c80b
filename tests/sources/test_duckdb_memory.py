"""What bounds the DuckDB sfsync reads a duckdb / csv / parquet source through: its ``memory_limit``
(default 512MB, from the project file, or ``null`` for DuckDB's own), where it spills, and what a model
that needs more than the limit does: it spills and reads whole, or, when DuckDB cannot spill it, fails
with an error naming the source's ``memory_limit`` and how to raise it.

The settings are read back with ``current_setting()`` inside a model's SQL, so they are those of the
connection the source really reads through. Expected sizes are rendered by DuckDB itself (a fresh
connection with the same ``SET``), so the tests do not depend on how a DuckDB version prints them."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sfsync.config import Project, load_project
from sfsync.config.sources import DEFAULT_SOURCE_MEMORY_LIMIT
from sfsync.errors import SourceError
from sfsync.sources import open_source, query_for
from sfsync.sync.diff import DiffSettings
from tests.sources.conftest import project_with

SETTINGS_SQL = (
    "select 1 as id, current_setting('memory_limit') as memory_limit, current_setting('threads') as threads, "
    "current_setting('temp_directory') as temp_directory"
)
BIG_ROWS = 1_000_000
"""Rows of the big table: 32-character strings, ~50 MB to sort, ~33 MB as one string_agg value."""


def rendered(memory_limit: str | None) -> str:
    """How DuckDB shows ``memory_limit`` (None: its own default) in ``current_setting``."""
    with duckdb.connect() as con:
        if memory_limit is not None:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        row = con.execute("select current_setting('memory_limit')").fetchone()
    assert row is not None
    return str(row[0])


def settings_of(project: Project, source: str = "src", spill_dir: Path | None = None) -> dict[str, object]:
    with open_source(project, source, spill_dir=spill_dir) as src:
        rows: list[dict[str, object]] = src.preview(query_for(project, "settings")).to_pylist()
    return rows[0]


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    path = tmp_path / "small.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select i as id from range(10) r(i)")
    return path


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"create table t as select i as id, md5(i::varchar) as s from range({BIG_ROWS}) r(i)")
    return path


def write_project(directory: Path, sources: str, models: str) -> Path:
    (directory / "sfsync.yml").write_text(f"version: 1\nsources:\n{sources}models:\n{models}")
    return directory / "sfsync.yml"


def test_the_default_limit_is_on_the_connection_sfsync_reads_through(small_db: Path, tmp_path: Path) -> None:
    project = project_with({"type": "duckdb", "path": str(small_db)}, {"settings": {"sql": SETTINGS_SQL}})
    got = settings_of(project, spill_dir=tmp_path)
    assert DEFAULT_SOURCE_MEMORY_LIMIT == DiffSettings().memory_limit == "512MB"  # as documented
    assert got["memory_limit"] == rendered("512MB") != rendered(None)
    spill = Path(str(got["temp_directory"]))
    assert spill.parent == tmp_path and spill.name.startswith(f"duckdb-{os.getpid()}-source-")


def test_memory_limit_and_threads_from_the_project_file_and_null_for_duckdbs_default(tmp_path: Path) -> None:
    for name in ("a", "b"):
        with duckdb.connect(str(tmp_path / f"{name}.duckdb")) as con:
            con.execute("create table t as select 1 as id")
    (tmp_path / "files").mkdir()
    pq.write_table(pa.table({"id": [1]}), tmp_path / "files" / "t.parquet")
    path = write_project(
        tmp_path,
        "  bounded: {type: duckdb, path: a.duckdb, memory_limit: 1GB, threads: 1}\n"
        "  unbounded: {type: duckdb, path: b.duckdb, memory_limit: null}\n"
        "  files: {type: parquet, path: files}\n",
        f'  settings: {{source: bounded, kind: custom, primary_key: id, sql: "{SETTINGS_SQL}"}}\n',
    )
    project = load_project(path)
    bounded = settings_of(project, "bounded")
    assert (bounded["memory_limit"], bounded["threads"]) == (rendered("1GB"), 1)
    assert settings_of(project, "unbounded")["memory_limit"] == rendered(None)  # DuckDB's 80% of RAM
    assert settings_of(project, "files")["memory_limit"] == rendered("512MB")  # csv/parquet: same default


def test_spills_go_to_the_projects_state_tmp_when_it_exists_else_the_system_temp(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("create table t as select 1 as id")
    path = write_project(
        tmp_path,
        "  src: {type: duckdb, path: wh.duckdb}\n",
        f'  settings: {{source: src, kind: custom, primary_key: id, sql: "{SETTINGS_SQL}"}}\n',
    )
    project = load_project(path)
    before = Path(str(settings_of(project)["temp_directory"]))
    assert before.parent == Path(tempfile.gettempdir())  # no state yet: nothing is created for it
    assert not (tmp_path / ".sfsync").exists()
    (tmp_path / ".sfsync" / "tmp").mkdir(parents=True)  # what the state store makes
    after = Path(str(settings_of(project)["temp_directory"]))
    assert after.parent == tmp_path / ".sfsync" / "tmp"


def test_a_model_bigger_than_the_limit_spills_to_disk_and_reads_whole(big_db: Path, tmp_path: Path) -> None:
    project = project_with(
        {"type": "duckdb", "path": str(big_db), "memory_limit": "32MB", "threads": 1},
        {"sorted": {"sql": "select id, s from t order by s desc"}},
    )
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    with open_source(project, "src", spill_dir=spill_dir) as source:
        reader = source.read(query_for(project, "sorted"))
        batches = [reader.read_next_batch()]
        (spilled,) = spill_dir.iterdir()  # the sort did not fit in 32MB: DuckDB wrote it to disk
        assert any(f.stat().st_size > 0 for f in spilled.iterdir())
        batches += list(reader)
    table = pa.Table.from_batches(batches)
    assert table.num_rows == BIG_ROWS
    assert pc.count_distinct(table.column("id")).as_py() == BIG_ROWS
    strings = table.column("s").to_pylist()
    assert strings == sorted(strings, reverse=True)
    assert list(spill_dir.iterdir()) == []  # DuckDB removed its spill files with the connection


def test_a_query_duckdb_cannot_spill_fails_naming_the_sources_memory_limit(
    big_db: Path, tmp_path: Path
) -> None:
    # string_agg builds one value of ~33 MB: DuckDB cannot spill a single value, so 20MB is not enough
    agg = "select 1 as id, string_agg(s, ',') as everything from t"
    sources = "  wh: {{type: duckdb, path: {path}, memory_limit: {limit}, threads: 1}}\n"
    models = f'  everything: {{source: wh, kind: custom, primary_key: id, sql: "{agg}"}}\n'
    path = write_project(tmp_path, sources.format(path=big_db, limit="20MB"), models)
    project = load_project(path)
    with open_source(project, "wh", spill_dir=tmp_path) as source, pytest.raises(SourceError) as caught:
        source.read(query_for(project, "everything")).read_all()
    error = caught.value
    assert (error.source, error.model) == ("wh", "everything")
    assert "model 'everything' of source 'wh' ran out of memory in DuckDB" in error.message
    assert "sources.wh.memory_limit is 20MB" in error.message
    assert error.hint is not None
    assert "raise sources.wh.memory_limit (sfsync.yml:3), e.g. `memory_limit: 2GB`" in error.hint
    assert "null: DuckDB's default" in error.hint and "sources.wh.threads (now 1)" in error.hint

    # what the hint says works: the same model under a larger limit
    write_project(tmp_path, sources.format(path=big_db, limit="256MB"), models)
    project = load_project(path)
    with open_source(project, "wh", spill_dir=tmp_path) as source:
        (value,) = source.read(query_for(project, "everything")).read_all().column("everything").to_pylist()
    assert value.count(",") == BIG_ROWS - 1


def test_a_spill_directory_that_cannot_be_made_is_named_in_the_error(big_db: Path, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    project = project_with(
        {"type": "duckdb", "path": str(big_db), "memory_limit": "32MB", "threads": 1},
        {"sorted": {"sql": "select id, s from t order by s"}},
    )
    with open_source(project, "src", spill_dir=not_a_dir) as source, pytest.raises(SourceError) as caught:
        source.read(query_for(project, "sorted")).read_all()
    assert f"DuckDB could not write its spill files under {not_a_dir}" in caught.value.message
    assert caught.value.hint is not None and "sources.src.memory_limit" in caught.value.hint


def test_one_file_read_by_several_sources_and_threads_at_once(small_db: Path, tmp_path: Path) -> None:
    """In one process every connection to a file shares one DuckDB: the limits are set on it after
    connecting, so a second source on the file, concurrent reads (the scheduler runs syncs in threads) and
    a connection of the user's own all open it."""
    project = Project.model_validate(
        {
            "version": 1,
            "sources": {
                "a": {"type": "duckdb", "path": str(small_db)},
                "b": {"type": "duckdb", "path": str(small_db), "memory_limit": "1GB"},
            },
            "models": {
                f"t_{n}": {"source": n, "kind": "custom", "primary_key": "id", "table": "t"}
                for n in ("a", "b")
            },
        }
    )
    results: list[int] = []

    def read(name: str) -> None:
        with open_source(project, name, spill_dir=tmp_path) as source:
            results.append(source.count_rows(query_for(project, f"t_{name}")))

    held = open_source(project, "a", spill_dir=tmp_path)
    with held, duckdb.connect(str(small_db), read_only=True) as own:
        threads = [threading.Thread(target=read, args=(n,)) for n in ("a", "b", "a")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert own.execute("select count(*) from t").fetchone() == (10,)
        assert held.count_rows(query_for(project, "t_a")) == 10
    assert results == [10, 10, 10]
