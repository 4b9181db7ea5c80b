"""Benchmark: the state writes of a run, on SQLite and on PostgreSQL.

    .venv/bin/python bench/state_writes.py                          # SQLite, 300 runs
    .venv/bin/python bench/state_writes.py --url postgresql://postgres@127.0.0.1:5432/db --runs 300

Each run does what a sync run writes to the state database: start_run, 5 progress updates, 4 Bulk jobs
journaled through new → uploaded → closed (then collected with an empty result part), a warning state
and finish_run: 25 write transactions, plus the reads between them. Prints runs per second and the
time per write transaction (best of ``--repeat``). Row results are Parquet files on both backends, so
this is the whole difference between them. The numbers are for people, not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sfsync.state import RunCounts, RunPhase, RunProgress, StateStore  # noqa: E402

WRITES_PER_RUN = 1 + 5 + 4 * 4 + 1 + 1 + 1


def one_pass(store: StateStore, runs: int, tag: str) -> float:
    empty = pa.table({"primary_key": pa.array([], pa.string()), "success": pa.array([], pa.bool_())})
    started = time.perf_counter()
    for i in range(runs):
        run = store.start_run(f"sync{i % 5}")
        for _ in range(5):
            store.set_progress(run.id, RunProgress(phase=RunPhase.READING))
        for j in range(4):
            job = f"750{tag}{i}x{j}"
            store.journal_add(run.id, job, "Contact", "upsert")
            store.journal_set_state(job, "uploaded")
            store.journal_set_state(job, "closed")
            store.record_results(run.id, empty, operation="upsert", collected_job_id=job)
        store.set_warning_state(f"sync{i % 5}", {"rejected": "ok"})
        store.finish_run(run.id, "succeeded", RunCounts(rows_read=100))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a PostgreSQL URL (default: SQLite in a temporary directory)")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        opened = (
            StateStore.open(Path(tmp), url=args.url, schema=schema)
            if args.url
            else StateStore.open(Path(tmp))
        )
        with opened as store:
            best = min(one_pass(store, args.runs, f"{n}r") for n in range(args.repeat))
            if args.url:
                with store.db.write() as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    backend = "postgresql" if args.url else "sqlite"
    per_write_ms = best / (args.runs * WRITES_PER_RUN) * 1000
    rate = args.runs / best
    print(f"{backend}: {args.runs} runs in {best:.2f} s: {rate:,.0f} runs/s, {per_write_ms:.2f} ms per write")


if __name__ == "__main__":
    main()
