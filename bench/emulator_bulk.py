"""Benchmark: Bulk API 2.0 upsert of N Contact rows on External_Id__c into a file-backed emulator.

The emulator runs in its own process (``serve(db_path=...)``) and is reached over a real socket, as a
client would. The CSV is generated and streamed while uploading (at most :data:`MAX_JOB_BYTES` per job,
the Bulk API's raw-CSV limit), each job is closed and polled until done. Prints rows/s (upload +
processing, wall clock) and the emulator's peak RSS (``VmHWM``).

    .venv/bin/python bench/emulator_bulk.py               # 1,000,000 rows
    .venv/bin/python bench/emulator_bulk.py --rows 100000 --passes 2 --json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

DEFAULT_ROWS = 1_000_000
TARGET_ROWS_PER_SECOND = 25_000
MAX_JOB_BYTES = 100 * 1024 * 1024
"""Raw CSV bytes per job (Bulk API 2.0 accepts 150 MB after base64, i.e. about 100 MB raw)."""
POLL_SECONDS = 0.5
STARTUP_SECONDS = 60.0
UPLOAD_PIECE_BYTES = 1024 * 1024
V = "/services/data/v62.0"
HEADER = "External_Id__c,FirstName,LastName,Email,Title\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def row(i: int, tag: str) -> str:
    return f"ext-{i:08d},First{i % 977},Last {i} {tag},person{i}@example.com,Title {i % 13}\n"


def job_slices(rows: int) -> Iterator[tuple[int, int]]:
    """Row ranges of at most MAX_JOB_BYTES of CSV each."""
    start = 0
    per_row = len(row(rows, "pass-0"))  # longest row: the largest index
    per_job = max(1, (MAX_JOB_BYTES - len(HEADER)) // per_row)
    while start < rows:
        end = min(rows, start + per_job)
        yield start, end
        start = end


def csv_body(start: int, end: int, tag: str) -> Iterator[bytes]:
    piece: list[str] = [HEADER]
    size = 0
    for i in range(start, end):
        line = row(i, tag)
        piece.append(line)
        size += len(line)
        if size >= UPLOAD_PIECE_BYTES:
            yield "".join(piece).encode()
            piece, size = [], 0
    if piece:
        yield "".join(piece).encode()


def start_emulator(db_path: Path, port: int) -> subprocess.Popen[bytes]:
    code = (
        "from sfsync.emulator import serve; "
        f"serve(port={port}, db_path={str(db_path)!r}, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the emulator exited with code {proc.returncode} before listening")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/services/data", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the emulator did not answer on port {port} within {STARTUP_SECONDS}s")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def login(base: str) -> str:
    r = httpx.post(
        f"{base}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": "sfsync-demo-client",
            "client_secret": "sfsync-demo-secret",
            "username": "admin@example.com",
            "password": "sfsync-demo",
        },
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


def run_pass(client: httpx.Client, rows: int, tag: str) -> dict[str, Any]:
    started = time.perf_counter()
    processed = failed = 0
    jobs = []
    for start, end in job_slices(rows):
        job = client.post(
            f"{V}/jobs/ingest",
            json={
                "object": "Contact",
                "operation": "upsert",
                "externalIdFieldName": "External_Id__c",
                "contentType": "CSV",
                "lineEnding": "LF",
            },
        ).json()
        put = client.put(
            f"{V}/jobs/ingest/{job['id']}/batches",
            content=csv_body(start, end, tag),
            headers={"Content-Type": "text/csv"},
        )
        if put.status_code != 201:
            raise SystemExit(f"upload refused: {put.status_code} {put.text[:300]}")
        client.patch(f"{V}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}).raise_for_status()
        jobs.append(job["id"])
    for job_id in jobs:
        while True:
            info = client.get(f"{V}/jobs/ingest/{job_id}").json()
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                break
            time.sleep(POLL_SECONDS)
        if info["state"] != "JobComplete":
            raise SystemExit(f"job {job_id} ended {info['state']}: {info.get('errorMessage')}")
        processed += info["numberRecordsProcessed"]
        failed += info["numberRecordsFailed"]
    seconds = time.perf_counter() - started
    return {
        "pass": tag,
        "jobs": len(jobs),
        "rows": rows,
        "processed": processed,
        "failed": failed,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="Contact rows to upsert")
    parser.add_argument(
        "--passes", type=int, default=1, help="1: all rows created; 2: then the same keys again, all updated"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sfsync-bench-") as tmp:
        port = free_port()
        proc = start_emulator(Path(tmp) / "org.sqlite", port)
        try:
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {login(base)}"}
            with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
                passes = [run_pass(client, args.rows, f"pass-{n}") for n in range(args.passes)]
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    result = {
        "benchmark": "emulator_bulk_upsert",
        "rows": args.rows,
        "passes": passes,
        "emulator_peak_rss_mb": round(rss, 1),
        "target_rows_per_second": TARGET_ROWS_PER_SECOND,
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for p in passes:
            ok = "meets" if p["rows_per_second"] >= TARGET_ROWS_PER_SECOND else "BELOW"
            print(
                f"{p['pass']}: {p['rows']:,} rows in {p['jobs']} job(s), {p['seconds']} s -> "
                f"{p['rows_per_second']:,} rows/s ({ok} the {TARGET_ROWS_PER_SECOND:,} rows/s target); "
                f"failed {p['failed']}"
            )
        print(f"emulator peak RSS: {rss:.1f} MB")
    return 0 if all(p["failed"] == 0 for p in passes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
