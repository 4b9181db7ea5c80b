"""Benchmark: the local planner against the warehouse planner on one PostgreSQL model, in the same run.

    .venv/bin/python bench/warehouse_diff.py                 # 1,000,000 rows x 10 columns, own cluster
    .venv/bin/python bench/warehouse_diff.py --rows 10000000   # issue 15's size: ~20 min, ~10 GB of disk
    .venv/bin/python bench/warehouse_diff.py --url postgresql://user@host/db   # an existing database

Without ``--url`` a throwaway PostgreSQL cluster is started in a temporary directory (as the tests do;
``make postgres`` installs the server). Two syncs read the same table ``bench.model`` (id + 10 columns):
one through a source with ``planner: local``, one with ``planner: warehouse``. Steps, each in its own
process (each peak RSS is its own):

  first    each planner's first diff (every row new) + snapshot advance with every row accepted
  change   1% of the rows change (one column each), in PostgreSQL
  diff     each planner's diff of the changed model (local / warehouse alternate, --repeat times; best)
  advance  each planner's snapshot advance with every changed row accepted

Measured per planner: wall time, rows and bytes that left PostgreSQL (COPY text bytes streamed to
sfsync, counted where the reader receives them) and sfsync's peak RSS. No Salesforce: only planning.
Target (issue 15): the warehouse planner moves only the changed rows and is faster than the local one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLUMNS = ["name", "email", "city", "score", "amount", "qty", "active", "signup", "updated", "note"]
CHANGED_PERCENT = 1
PLANNERS = ("local", "warehouse")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Bytes:
    """Counts the COPY bytes the PostgreSQL reader receives (wraps its chunk reader in this process)."""

    total = 0

    @classmethod
    def install(cls) -> None:
        from sfsync.sources import postgres

        read = postgres._ChunkReader.read

        def counted(self: Any, size: int | None = -1) -> bytes:
            data: bytes = read(self, size)
            cls.total += len(data)
            return data

        postgres._ChunkReader.read = counted  # type: ignore[method-assign]


def _sql(url: str, *statements: str) -> list[tuple[Any, ...]]:
    import psycopg

    out: list[tuple[Any, ...]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            cur = conn.execute(s.encode())
            out = list(cur.fetchall()) if cur.description else []
    return out


def generate(url: str, rows: int) -> None:
    _sql(
        url,
        "DROP SCHEMA IF EXISTS bench CASCADE",
        "DROP SCHEMA IF EXISTS bench_sfsync CASCADE",
        "CREATE SCHEMA bench",
        "CREATE TABLE bench.model AS SELECT i AS id, 'name ' || i AS name,"
        " CASE WHEN i % 17 = 0 THEN NULL ELSE 'user' || i || '@example.com' END AS email,"
        " (ARRAY['Paris','Lyon','Berlin','Zürich','Oslo'])[1 + i % 5] AS city,"
        " (i % 1000) / 7.0::float8 AS score, ((i % 100000) / 100.0)::numeric(12, 2) AS amount,"
        " (i % 500)::int AS qty, i % 2 = 0 AS active, DATE '2020-01-01' + (i % 2000) AS signup,"
        " TIMESTAMPTZ '2024-01-01 00:00:00+00' + (i % 86400) * INTERVAL '1 second' AS updated,"
        " 'note ' || i || ' ' || repeat('x', 40) AS note"
        f" FROM generate_series(1, {rows}) i",
        "ALTER TABLE bench.model ADD PRIMARY KEY (id)",
        "ANALYZE bench.model",
    )


def change(url: str) -> int:
    _sql(
        url,
        f"UPDATE bench.model SET name = name || ' v2' WHERE id % 100 < {CHANGED_PERCENT} AND id % 3 = 0",
        f"UPDATE bench.model SET email = 'changed' || id || '@example.org'"
        f" WHERE id % 100 < {CHANGED_PERCENT} AND id % 3 = 1",
        f"UPDATE bench.model SET score = score + 1 WHERE id % 100 < {CHANGED_PERCENT} AND id % 3 = 2",
        "ANALYZE bench.model",
    )
    return int(_sql(url, f"SELECT count(*) FROM bench.model WHERE id % 100 < {CHANGED_PERCENT}")[0][0])


def _project(url: str, planner: str) -> Any:
    from sfsync.config import Project

    return Project.model_validate(
        {
            "version": 1,
            "sources": {
                "pg": {"type": "postgres", "url": url, "planner": planner, "planner_schema": "bench_sfsync"}
            },
            "models": {"m": {"source": "pg", "kind": "custom", "primary_key": "id", "table": "bench.model"}},
        }
    )


def step(name: str, planner: str, args: argparse.Namespace) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from sfsync.config import PostgresSource
    from sfsync.sources import open_source, query_for
    from sfsync.state import StateStore
    from sfsync.sync.diff import DiffResult, compute_diff, pending_diffs
    from sfsync.sync.planners import advance
    from sfsync.sync.warehouse.connection import PostgresWarehouse
    from sfsync.sync.warehouse.planner import compute_warehouse_diff

    _Bytes.install()
    sync = f"bench_{planner}"
    project = _project(args.url, planner)
    store = StateStore.open(Path(args.dir) / ".sfsync")
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if name in ("first", "diff"):
        for old in pending_diffs(store, sync):
            old.discard()
        query = query_for(project, "m", ["id", *COLUMNS])
        with open_source(project, "pg") as source:
            if planner == "local":
                diff = compute_diff(store, sync, source.read(query), primary_key="id", columns=COLUMNS)
            else:
                config = project.sources["pg"]
                assert isinstance(config, PostgresSource)
                wh = PostgresWarehouse("pg", config)
                try:
                    diff = compute_warehouse_diff(
                        store,
                        wh,
                        sync,
                        query,
                        source.schema(query),
                        primary_key="id",
                        columns=COLUMNS,
                        constants={},
                        planner_schema="bench_sfsync",
                    )
                finally:
                    wh.close()
        out["diff_s"] = time.perf_counter() - t0
        out["counts"] = diff.counts.__dict__
        out["rows_out"] = diff.counts.rows if planner == "local" else diff.counts.to_send
        out["bytes_out"] = _Bytes.total
        out["work_dir"] = str(diff.work_dir)
        if name == "first":
            keys = pq.read_table(diff.changes_path, columns=["id"]).column("id")
            t1 = time.perf_counter()
            info = advance(project, store, diff, pc.cast(keys, pa.string()).combine_chunks())
            out["advance_s"] = time.perf_counter() - t1
            out["snapshot_rows"] = info.rows
    elif name == "advance":
        diff = DiffResult.open(args.work_dir)
        keys = pq.read_table(diff.changes_path, columns=["id"]).column("id")
        info = advance(project, store, diff, pc.cast(keys, pa.string()).combine_chunks())
        out["snapshot_rows"] = info.rows
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = _rss_mb()
    store.close()
    return out


def run_step(
    name: str, planner: str, args: argparse.Namespace, extra: list[str] | None = None
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--step",
        name,
        "--planner",
        planner,
        "--url",
        args.url,
        "--dir",
        args.dir,
    ]
    res = subprocess.run([*cmd, *(extra or [])], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"step {name} ({planner}) failed:\n{res.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


def _cluster(base: Path) -> tuple[str, Any]:
    """A throwaway cluster like the tests' (tests/plugins/postgres.py); returns (url, stop)."""
    from tests.plugins import postgres as pgplug

    gen = pgplug.postgres_url.__wrapped__()  # type: ignore[attr-defined]
    url = next(gen)
    return url, gen


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e6 else f"{n / 1e3:,.1f} kB"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--url", help="an existing PostgreSQL database (default: start a throwaway cluster)")
    p.add_argument("--dir", default=None, help="scratch directory for the state store")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--step", help=argparse.SUPPRESS)
    p.add_argument("--planner", help=argparse.SUPPRESS)
    p.add_argument("--work-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.planner, args)))
        return
    scratch = Path(args.dir or tempfile.mkdtemp(prefix="sfsync-bench-wh-"))
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    args.dir = str(scratch)
    stop = None
    if not args.url:
        args.url, stop = _cluster(scratch)
    try:
        print(
            f"rows={args.rows:,} columns=10 changed={CHANGED_PERCENT}% cores={os.cpu_count()}"
            f" load={os.getloadavg()[0]:.1f}"
        )
        t0 = time.perf_counter()
        generate(args.url, args.rows)
        print(f"generate: {time.perf_counter() - t0:.1f} s")
        for planner in PLANNERS:
            r = run_step("first", planner, args)
            print(
                f"first   {planner:9} diff {r['diff_s']:6.1f} s  advance {r['advance_s']:5.1f} s"
                f"  rows out {r['rows_out']:>10,}  bytes out {_mb(r['bytes_out']):>10}"
                f"  peak RSS {r['peak_rss_mb']:6.0f} MB"
            )
        print(f"change: {change(args.url):,} rows changed")
        best: dict[str, dict[str, Any]] = {}
        last: dict[str, dict[str, Any]] = {}
        for i in range(args.repeat):  # each diff step discards the one before it
            for planner in PLANNERS if i % 2 == 0 else PLANNERS[::-1]:
                r = last[planner] = run_step("diff", planner, args)
                if planner not in best or r["diff_s"] < best[planner]["diff_s"]:
                    best[planner] = r
        for planner in PLANNERS:
            r = best[planner]
            c = r["counts"]
            a = run_step("advance", planner, args, ["--work-dir", last[planner]["work_dir"]])
            print(
                f"diff    {planner:9} {r['diff_s']:6.1f} s  advance {a['seconds']:5.1f} s"
                f"  new {c['new']:,} changed {c['changed']:,}"
                f"  rows out {r['rows_out']:>10,}  bytes out {_mb(r['bytes_out']):>10}"
                f"  peak RSS {max(r['peak_rss_mb'], a['peak_rss_mb']):6.0f} MB"
            )
        lo, wh = best["local"], best["warehouse"]
        print(
            f"result: warehouse planner diff {wh['diff_s']:.1f} s vs local {lo['diff_s']:.1f} s"
            f" ({lo['diff_s'] / max(wh['diff_s'], 1e-9):.1f}x);"
            f" rows out {wh['rows_out']:,} vs {lo['rows_out']:,};"
            f" bytes out {_mb(wh['bytes_out'])} vs {_mb(lo['bytes_out'])}"
        )
        print(f"load after: {os.getloadavg()[0]:.1f}; total {time.perf_counter() - t0:.0f} s")
    finally:
        if stop is not None:
            next(stop, None)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
