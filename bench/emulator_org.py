"""Benchmark the emulator's record engine directly (no HTTP): Bulk upserts into a big file-backed org.

    python bench/emulator_org.py [--rows N] [--chunk N] [--repeat N] [--db FILE]

Preloads ``--rows`` Contacts with Bulk inserts, then times ``--chunk``-row Contact upsert chunks
(LastName, FirstName, Email, Phone, Title, External_Id__c): all updates, all creates, half and half;
then an ``IN`` query of 200 external ids and a full query scan. Prints rows/s and the peak RSS.
The target for the HTTP layer's headroom is ≥ 60,000 rows/s per 10,000-row upsert chunk at 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sfsync.emulator.metadata.schema import default_org
from sfsync.emulator.records.org import Org

HEADER = ["LastName", "FirstName", "Email", "Phone", "Title", "External_Id__c"]
#: Rows preloaded by default: small enough that the whole run takes well under a minute.
DEFAULT_ROWS = 200_000


def contact_row(n: int, tag: str = "") -> list[str]:
    return [
        f"Last{n}{tag}",
        f"First{n}",
        f"user{n}@example.com",
        f"+33 1 23 45 {n % 100:02d}",
        f"Title {tag}",
        f"EXT-{n:09d}",
    ]


def timed(label: str, rows: int, fn: Callable[[], object]) -> tuple[float, float]:
    """Run fn; print wall-clock and CPU-time rates (CPU time is distorted least on a shared machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"{label:<36} {rows:>9,} rows {elapsed:7.3f} s {rows / elapsed:>10,.0f} rows/s wall"
        f" {rows / max(used, 1e-9):>10,.0f} rows/s cpu",
        flush=True,
    )
    return rows / elapsed, rows / max(used, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="Contacts preloaded before timing upserts")
    ap.add_argument("--chunk", type=int, default=10_000, help="rows per timed upsert chunk")
    ap.add_argument("--repeat", type=int, default=3, help="timed chunks per upsert kind")
    ap.add_argument("--db", help="SQLite file (default: a temporary directory)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="sfsync-bench-")
    db = args.db or str(Path(tmp.name) / "org.db")
    org = Org(default_org(), db_path=db)
    print(f"org file {db}; preloading {args.rows:,} Contacts")
    chunk = args.chunk
    load_start = time.perf_counter()
    for start in range(0, args.rows, chunk):
        rows = [contact_row(n) for n in range(start, min(args.rows, start + chunk))]
        results = org.bulk_load("Contact", "insert", None, HEADER, rows)
        assert all(r.error is None for r in results), results[0]
    elapsed = time.perf_counter() - load_start
    print(
        f"{'preload (Bulk insert)':<36} {args.rows:>9,} rows {elapsed:7.3f} s "
        f"{args.rows / elapsed:>10,.0f} rows/s wall"
    )

    next_new = args.rows
    rates: dict[str, list[tuple[float, float]]] = {"update": [], "create": [], "mixed": []}
    for i in range(args.repeat):
        base = (i * chunk * 7) % max(1, args.rows - chunk)
        upd = [contact_row(n, f"u{i}") for n in range(base, base + chunk)]
        rates["update"].append(
            timed(
                f"upsert chunk, all updates #{i + 1}",
                chunk,
                partial(upsert, org, upd),
            )
        )
        new = [contact_row(n) for n in range(next_new, next_new + chunk)]
        next_new += chunk
        rates["create"].append(
            timed(
                f"upsert chunk, all creates #{i + 1}",
                chunk,
                partial(upsert, org, new),
            )
        )
        half = chunk // 2
        mixed = [contact_row(n, f"m{i}") for n in range(base, base + half)]
        mixed += [contact_row(n) for n in range(next_new, next_new + chunk - half)]
        next_new += chunk - half
        rates["mixed"].append(
            timed(
                f"upsert chunk, half/half #{i + 1}",
                chunk,
                partial(upsert, org, mixed),
            )
        )
    keys = ", ".join(f"'EXT-{n:09d}'" for n in range(0, min(args.rows, 200 * 997), 997))
    soql = f"SELECT Id, Email, External_Id__c FROM Contact WHERE External_Id__c IN ({keys})"
    timed("query IN (200 external ids)", 200, lambda: list(org.query(soql).records))
    total = args.rows + next_new - args.rows
    timed(
        "query full scan (paged)",
        total,
        lambda: sum(1 for _ in org.query("SELECT Id, LastName, Email FROM Contact").records),
    )
    org.close()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    for kind, values in rates.items():
        wall = sorted(v[0] for v in values)[len(values) // 2]
        cpu = sorted(v[1] for v in values)[len(values) // 2]
        best = max(v[1] for v in values)
        print(
            f"upsert {kind:<7} median {wall:>10,.0f} rows/s wall {cpu:>10,.0f} rows/s cpu"
            f" (best chunk {best:,.0f} rows/s cpu)"
        )
    print(f"peak RSS {peak_mib:,.0f} MiB; org file {Path(db).stat().st_size / 2**20:,.0f} MiB")
    tmp.cleanup()


def upsert(org: Org, rows: list[list[str]]) -> None:
    results = org.bulk_load("Contact", "upsert", "External_Id__c", HEADER, rows)
    bad = [r for r in results if r.error is not None]
    assert not bad, bad[0]


if __name__ == "__main__":
    main()
