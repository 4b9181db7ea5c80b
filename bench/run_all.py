"""Run every benchmark in ``bench/`` with small sizes (or their full defaults) and print a summary.

    .venv/bin/python bench/run_all.py              # small sizes: a few minutes on a laptop (`make bench`)
    .venv/bin/python bench/run_all.py --full       # each benchmark's own defaults (10M-row diff, 1M-row e2e,
                                                   # the 1M/10M/30M scale curve: an hour or more)
    .venv/bin/python bench/run_all.py --only e2e --only diff

Each benchmark runs in its own process (its output is shown as it goes); the summary lists, per benchmark,
its exit status, wall time and its result lines. Exit status: 0 when every benchmark exited 0.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
#: Lines of a benchmark's output repeated in the summary (its conclusion is at the end).
SUMMARY_LINES = 6


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    small: tuple[str, ...]  # arguments for the quick run
    full: tuple[str, ...] = ()  # arguments for --full (besides the script's own defaults)
    needs_dir: bool = False  # takes --dir for its scratch files


BENCHES = (
    Bench("diff", "diff.py", ("--rows", "200000"), needs_dir=True),
    # --full: 1M, 10M and 30M rows (~25 min, ~15 GB of disk)
    Bench("diff_scale", "diff_scale.py", ("--sizes", "100000,300000"), needs_dir=True),
    Bench("emulator_org", "emulator_org.py", ("--rows", "50000", "--chunk", "5000", "--repeat", "2")),
    Bench(
        "emulator_bulk",
        "emulator_bulk.py",
        (
            "--rows",
            "50000",
        ),
    ),
    Bench(
        "e2e",
        "e2e.py",
        (
            "--rows",
            "50000",
        ),
    ),
    Bench("row_search", "row_search.py", ("--runs", "20", "--rows", "5000")),
    # starts its own PostgreSQL cluster (`make postgres` installs the server)
    Bench("warehouse_diff", "warehouse_diff.py", ("--rows", "100000")),
)


@dataclass
class Outcome:
    bench: Bench
    code: int
    seconds: float
    tail: list[str]


def run(bench: Bench, full: bool, scratch: Path) -> Outcome:
    args = list(bench.full if full else bench.small)
    if bench.needs_dir:
        args += ["--dir", str(scratch / bench.name)]
    cmd = [sys.executable, str(BENCH_DIR / bench.script), *args]
    print(f"\n=== {bench.name}: {' '.join(cmd[1:])}", flush=True)
    started = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"  {line}", end="", flush=True)
            lines.append(line.rstrip("\n"))
        code = proc.wait()
    return Outcome(
        bench, code, time.perf_counter() - started, [ln for ln in lines if ln.strip()][-SUMMARY_LINES:]
    )


def main(argv: list[str] | None = None) -> int:
    names = [b.name for b in BENCHES]
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="each benchmark's own (large) default sizes")
    parser.add_argument("--only", action="append", choices=names, help="run only this benchmark (repeatable)")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"sfsync benchmarks ({'full' if args.full else 'small'} sizes), {os.cpu_count()} CPUs, load {load}")
    with tempfile.TemporaryDirectory(prefix="sfsync-bench-") as scratch:
        outcomes = [run(b, args.full, Path(scratch)) for b in chosen]
    print("\n=== summary")
    for o in outcomes:
        status = "ok" if o.code == 0 else f"FAILED (exit {o.code})"
        print(f"{o.bench.name:<14} {status:<18} {o.seconds:8.1f} s")
        for line in o.tail:
            print(f"    {line}")
    return 0 if all(o.code == 0 for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
