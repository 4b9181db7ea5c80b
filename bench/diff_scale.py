"""Benchmark: the local planner's scale curve, diff time and peak RSS at growing model sizes, in one run.

    .venv/bin/python bench/diff_scale.py                        # 1M, 10M, 30M rows (~15 GB disk, ~25 min)
    .venv/bin/python bench/diff_scale.py --sizes 100000,300000  # what `make bench` runs

The model is a DuckDB database file (the same 10-column table as ``bench/diff.py``), read the way a run
reads it: through sfsync's DuckDB source (``open_source`` + ``query_for``, Arrow batches of the default
size, the source's ``memory_limit`` sfsync's default unless ``--source-memory-limit`` says otherwise,
spilling into the state store's ``tmp/``) into ``compute_diff`` with its default settings
(``--diff-memory-limit``: another ``state.diff_memory_limit``), then ``advance_snapshot`` with the
accepted keys as text (as the engine passes them). Each step runs in its own
process, so each peak RSS is its own:

  generate     the model table, N rows
  first        the first diff (every row new)
  first_adv    the snapshot advance with every row accepted
  change       1% of the rows change (one column each, spread over several columns)
  diff         the diff of the changed model (the number the curve is about)
  advance      the snapshot advance with every changed row accepted

The baseline is the smallest size, measured in the same run: each size's time per million rows is shown
relative to it (1.00 = linear), and every peak RSS next to the DuckDB ``memory_limit`` the diff uses
(``DiffSettings.memory_limit``, 512MB; the source's is 512MB too by default). Targets (issue 15): linear
time; memory bounded by the DuckDB memory limits, under 2 GB at 30M rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from bench import diff as diff_bench  # noqa: E402  (bench/diff.py: the model's SQL and columns)

DEFAULT_SIZES = "1000000,10000000,30000000"
RSS_TARGET_MB = 2048
SYNC = "bench_scale"
STEPS = ("generate", "first", "first_adv", "change", "diff", "advance")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _project(work: Path, source_memory_limit: str | None = None) -> Any:
    from sfsync.config import Project

    source: dict[str, Any] = {"type": "duckdb", "path": str(work / "wh.duckdb")}
    if source_memory_limit:  # "none": DuckDB's own default (memory_limit: null)
        source["memory_limit"] = None if source_memory_limit.lower() == "none" else source_memory_limit
    return Project.model_validate(
        {
            "version": 1,
            "sources": {"wh": source},
            "models": {"m": {"source": "wh", "kind": "custom", "primary_key": "id", "table": "model"}},
        }
    )


def step(
    name: str, rows: int, work: Path, work_dir: str | None, source_limit: str | None, diff_limit: str | None
) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from sfsync.sources import open_source, query_for
    from sfsync.state import StateStore
    from sfsync.sync.diff import DiffResult, DiffSettings, compute_diff, pending_diffs
    from sfsync.sync.snapshot import advance_snapshot

    settings = DiffSettings(memory_limit=diff_limit) if diff_limit else DiffSettings()

    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if name in ("generate", "change"):
        with duckdb.connect(str(work / "wh.duckdb")) as con:
            sql = diff_bench._model_sql(rows, changed=name == "change")
            con.execute(f"CREATE OR REPLACE TABLE model AS {sql}")
    else:
        store = StateStore.open(work / ".sfsync")
        project = _project(work, source_limit)
        if name in ("first", "diff"):
            for old in pending_diffs(store, SYNC):
                old.discard()
            with open_source(project, "wh", spill_dir=store.paths.tmp) as source:
                reader = source.read(query_for(project, "m", ["id", *diff_bench.COLUMNS]))
                diff = compute_diff(
                    store, SYNC, reader, primary_key="id", columns=diff_bench.COLUMNS, settings=settings
                )
            out["counts"] = diff.counts.__dict__
            out["work_dir"] = str(diff.work_dir)
        else:  # the advance: every row sent was accepted; keys as text, as the engine's row results give them
            diff = DiffResult.open(work_dir or "")
            keys = pc.cast(pq.read_table(diff.changes_path, columns=["id"]).column("id"), pa.string())
            out["snapshot_rows"] = advance_snapshot(
                store, diff, keys.combine_chunks(), settings=settings
            ).rows
        store.close()
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = _peak_mb()
    return out


def run_step(
    name: str,
    rows: int,
    work: Path,
    work_dir: str | None = None,
    source_limit: str | None = None,
    diff_limit: str | None = None,
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--step", name, "--rows", str(rows), "--dir", str(work)]
    cmd += ["--source-memory-limit", source_limit] if source_limit else []
    cmd += ["--diff-memory-limit", diff_limit] if diff_limit else []
    res = subprocess.run(
        [*cmd, *(["--work-dir", work_dir] if work_dir else [])], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SystemExit(f"step {name} at {rows:,} rows failed:\n{res.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


def measure(rows: int, root: Path, source_limit: str | None, diff_limit: str | None = None) -> dict[str, Any]:
    work = root / f"rows-{rows}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out: dict[str, Any] = {"rows": rows}
    try:
        for name in STEPS:
            source = {"first_adv": "first", "advance": "diff"}.get(name)
            r = out[name] = run_step(
                name, rows, work, out[source]["work_dir"] if source else None, source_limit, diff_limit
            )
            print(
                f"  {rows:>11,} {name:9s} {float(r['seconds']):8.2f} s"
                f"  peak RSS {float(r['peak_rss_mb']):6.0f} MB",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> None:
    from sfsync.config.sources import DEFAULT_SOURCE_MEMORY_LIMIT

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated row counts")
    p.add_argument("--dir", default=str(BENCH_DIR / "out" / "diff_scale"), help="scratch directory")
    p.add_argument(
        "--source-memory-limit",
        help="the DuckDB source's memory_limit (sources.<name>.memory_limit; default: sfsync's default, "
        f"{DEFAULT_SOURCE_MEMORY_LIMIT}; none: DuckDB's own default, 80%% of RAM)",
    )
    p.add_argument(
        "--diff-memory-limit",
        help="the diff's and the advance's DuckDB memory_limit (state.diff_memory_limit; default 512MB)",
    )
    p.add_argument("--step", help=argparse.SUPPRESS)
    p.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    p.add_argument("--work-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.step:
        print(
            json.dumps(
                step(
                    args.step,
                    args.rows,
                    Path(args.dir),
                    args.work_dir,
                    args.source_memory_limit,
                    args.diff_memory_limit,
                )
            )
        )
        return
    from sfsync.sync.diff import DiffSettings

    limit = args.diff_memory_limit or DiffSettings().memory_limit
    source_limit = args.source_memory_limit or DEFAULT_SOURCE_MEMORY_LIMIT
    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(
        f"local planner scale curve: {', '.join(f'{n:,}' for n in sizes)} rows x 10 columns, "
        f"{diff_bench.CHANGED_PERCENT}% changed; DuckDB-file model through sfsync's DuckDB source; diff "
        f"memory_limit {limit}; source memory_limit {source_limit}; "
        f"cores={os.cpu_count()}; load(1/5/15m) before {_load()}",
        flush=True,
    )
    root = Path(args.dir)
    try:
        results = [measure(n, root, args.source_memory_limit, args.diff_memory_limit) for n in sizes]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load(1/5/15m) after {_load()}")

    def per_m(r: dict[str, Any], key: str) -> float:
        return float(r[key]["seconds"]) / int(r["rows"]) * 1e6

    base = results[0]
    print(
        f"{'rows':>11}  {'1% diff':>8} {'s/1M':>6} {'ratio':>6}"
        f"  {'first':>8} {'s/1M':>6} {'ratio':>6}  peak RSS MB"
    )
    worst = 0.0
    for r in results:
        rss = {k: float(r[k]["peak_rss_mb"]) for k in ("first", "first_adv", "diff", "advance")}
        worst = max(worst, *rss.values())
        print(
            f"{r['rows']:>11,}  {float(r['diff']['seconds']):7.2f}s {per_m(r, 'diff'):6.2f}"
            f" {per_m(r, 'diff') / per_m(base, 'diff'):5.2f}x  {float(r['first']['seconds']):7.2f}s"
            f" {per_m(r, 'first'):6.2f} {per_m(r, 'first') / per_m(base, 'first'):5.2f}x"
            f"  first {rss['first']:,.0f}, first advance {rss['first_adv']:,.0f},"
            f" 1% diff {rss['diff']:,.0f}, advance {rss['advance']:,.0f}"
        )
    last = results[-1]
    print(
        f"result: 1% diff time per row at {last['rows']:,} rows is"
        f" {per_m(last, 'diff') / per_m(base, 'diff'):.2f}x"
        f" that at {base['rows']:,} (1.00 = linear); largest peak RSS {worst:,.0f} MB"
        f" (target < {RSS_TARGET_MB:,} MB at 30M; DuckDB memory_limit {limit})"
    )


if __name__ == "__main__":
    main()
