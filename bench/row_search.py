"""Benchmark: the row debugger's search and one row's story over many runs of one sync.

    .venv/bin/python bench/row_search.py                    # 100 runs x 10,000 row results (1M rows)
    .venv/bin/python bench/row_search.py --runs 20 --rows 5000

A real state store gets ``--runs`` runs of one sync, each with ``--rows`` row results (one part file per
run, 2% rejected with a few error codes, messages naming the value), then times (best of ``--repeat``):

  search-key     rows whose primary key, code, message or record id contains one row's key
  search-code    rejected rows containing an error code, sorted by key, first page of 50
  page-deep      every row, sorted by run, the page at offset 500,000 (or the middle)
  history        one row's outcome in every run (``RowDebugger.history``)

The numbers are for people, not a test: there is no pass/fail target (the UI calls each once per page).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sized
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sfsync.state import RunCounts, RunStatus, StateStore  # noqa: E402
from sfsync.state.rowsearch import RowDebugger  # noqa: E402

CODES = ("INVALID_EMAIL_ADDRESS", "STRING_TOO_LONG", "REQUIRED_FIELD_MISSING")


def _results(rows: int, run: int) -> pa.Table:
    keys = pc.binary_join_element_wise("P-", pc.cast(pa.array(range(rows)), pa.string()), "")
    rejected = pc.equal(pc.bit_wise_and(pa.array(range(rows)), 63), run % 64)
    codes = pa.array([CODES[i % len(CODES)] if r else None for i, r in enumerate(rejected.to_pylist())])
    messages = pa.array([f"bad value in row {i}" if r else None for i, r in enumerate(rejected.to_pylist())])
    ids = pa.array([None if r else f"003{run:06d}{i:09d}" for i, r in enumerate(rejected.to_pylist())])
    return pa.table(
        {
            "primary_key": keys,
            "success": pc.invert(rejected),
            "operation": pa.repeat("updated", rows),
            "record_id": ids,
            "error_code": codes,
            "message": messages,
        }
    )


def _best(repeat: int, work: Callable[[], object]) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = work()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sfsync-bench-rows-") as tmp:
        store = StateStore.open(Path(tmp) / ".sfsync")
        start = time.perf_counter()
        for i in range(args.runs):
            run = store.start_run("contacts")
            store.record_results(run.id, _results(args.rows, i))
            store.finish_run(run.id, RunStatus.PARTIAL, RunCounts(updated=args.rows))
        setup = time.perf_counter() - start
        total = args.runs * args.rows
        print(f"store: {args.runs} runs x {args.rows:,} row results = {total:,} rows ({setup:.1f} s)")
        rows = RowDebugger(store, "contacts")
        key = f"P-{args.rows // 2}"
        cases: list[tuple[str, Callable[[], object]]] = [
            ("search-key", lambda: rows.search(key)),
            ("search-code", lambda: rows.search("TOO_LONG", outcome="rejected", sort="key")),
            ("page-deep", lambda: rows.search(offset=min(500_000, total // 2))),
            ("history", lambda: rows.history(key)),
        ]
        for name, work in cases:
            seconds, out = _best(args.repeat, work)
            size = getattr(out, "total", None)
            runs = len(out) if isinstance(out, Sized) else 0
            found = f"{size:,} matching" if size is not None else f"{runs:,} runs"
            print(f"{name:12s} {seconds * 1000:8.1f} ms  ({found})")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
