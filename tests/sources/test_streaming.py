"""A 1,000,000-row model streams in bounded batches and bounded memory (DuckDB and PostgreSQL).

Memory is measured with the kernel's own counters (VmHWM in /proc/self/status, reset through
clear_refs), not psutil: the peak resident set while streaming must stay far below what holding the
whole model would take.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from sfsync.config import Project
from sfsync.sources import open_source, query_for
from tests.sources.conftest import current_rss_kib, peak_rss_kib, project_with, reset_peak_rss

ROWS = 1_000_000
BATCH_ROWS = 20_000
PAD = 500  # characters of text per row: the whole model is ~ ROWS * PAD bytes of strings alone
FULL_MODEL_MIB = ROWS * PAD // (1024 * 1024)  # ~477 MiB
MAX_GROWTH_MIB = 160  # streaming must stay far under holding the model


def _stream(project: Project, name: str) -> tuple[int, int, int, float]:
    """(rows, largest batch, peak RSS growth KiB, seconds)."""
    with open_source(project, "src") as source:
        query = query_for(project, name, ["id", "pad", "amount"])
        reset_ok = reset_peak_rss()
        base = current_rss_kib()
        start = time.perf_counter()
        rows = largest = 0
        sampled_peak = base
        for batch in source.read(query, batch_rows=BATCH_ROWS):
            rows += batch.num_rows
            largest = max(largest, batch.num_rows)
            sampled_peak = max(sampled_peak, current_rss_kib())
        seconds = time.perf_counter() - start
        peak = peak_rss_kib() if reset_ok else sampled_peak
    return rows, largest, peak - base, seconds


@pytest.mark.slow
def test_duckdb_million_rows_stream_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        f"create table big as select i as id, repeat(chr(97 + (i % 26)::int), {PAD}) || i as pad, "
        "(i / 100)::decimal(18,2) as amount, 'x' as unused from range({ROWS}) t(i)".replace(
            "{ROWS}", str(ROWS)
        )
    )
    con.close()
    project = project_with(
        {"type": "duckdb", "path": str(path), "threads": 1, "memory_limit": "32MB"}, {"big": {"table": "big"}}
    )
    rows, largest, growth_kib, seconds = _stream(project, "big")
    print(f"duckdb: {rows} rows in {seconds:.2f}s, peak RSS growth {growth_kib / 1024:.1f} MiB")
    assert rows == ROWS
    assert largest <= BATCH_ROWS
    assert growth_kib / 1024 < MAX_GROWTH_MIB < FULL_MODEL_MIB


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_million_rows_stream_in_bounded_memory(postgres_url: str) -> None:
    sql = (
        f"select i as id, repeat(md5(i::text), {PAD // 32 + 1}) as pad, (i / 100.0)::numeric(18,2) as amount "
        f"from generate_series(1, {ROWS}) i"
    )
    project = project_with({"type": "postgres", "url": postgres_url}, {"big": {"sql": sql}})
    rows, largest, growth_kib, seconds = _stream(project, "big")
    print(f"postgres: {rows} rows in {seconds:.2f}s, peak RSS growth {growth_kib / 1024:.1f} MiB")
    assert rows == ROWS
    assert largest <= BATCH_ROWS
    assert growth_kib / 1024 < MAX_GROWTH_MIB < FULL_MODEL_MIB
