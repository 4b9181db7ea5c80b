"""Benchmark: sfsync end to end against simple-salesforce's Bulk 2.0 upsert, on the same emulator.

    .venv/bin/python bench/e2e.py                   # 1,000,000 Contacts
    .venv/bin/python bench/e2e.py --rows 200000 --json

The emulator runs in its own process over TLS (simple-salesforce only speaks https) with a file-backed
org (``--db``), reached over a real socket by both clients. Steps, all timed by wall clock:

  sfsync first      ``SyncSession.run`` of an upsert sync (DuckDB model -> diff -> Bulk CSV jobs -> per-row
                    results stored -> snapshot): every row is created
  sfsync 1% rerun   the warehouse changes 1% of the rows; the run sends only those
  sfsync unchanged  one more run: nothing to send, zero API calls
  (the org is reset)
  baseline first    what a simple-salesforce script does: export the model to CSV with DuckDB's C writer,
                    then ``sf.bulk2.Contact.upsert(csv_file=..., external_id_field="External_Id__c")``
  baseline rerun    the same after the 1% change: simple-salesforce has no diff, so every row goes again

sfsync's first run is split into time waiting on the org and sfsync's own time, measured through the
client's injection point: sfsync's client is given an ``httpx`` transport (``TimedTransport``) that records
when each request is in flight (from sending it until the last byte of its answer is read), and the
client's waits between Bulk polls (``Transport.sleep``) are recorded too. Waiting on the org is the union of
those intervals across threads (the Bulk jobs run as a pipeline); sfsync's own time is the rest of the
run's wall time: reading, diffing, planning, encoding CSV, matching results and storing outcomes and the
snapshot while no request is in flight (the *strict* measure). ``PhaseStarted`` progress events split both
per phase. The *critical path* ("alone") also counts as the org's the time it spends processing a closed
Bulk job (from the progress event that says it was closed to the one that says a poll found it done):
sfsync's work then (encoding the next CSV, storing an earlier job's results) runs beside the org's and
adds nothing to the run. Target (issue 15): sfsync's share of the first run under 10% on the critical path;
the strict share is printed too. The process's CPU time is printed as well: on a loaded machine the
wall-clock shares also count sfsync's threads waiting for a core.

Both poll Bulk jobs every ``BASELINE_POLL_SECONDS`` (simple-salesforce's ``wait``, default 5 s, would
only slow it down; sfsync's ``bulk_poll_seconds`` setting). sfsync also downloads and stores every row's
result, which the baseline does not. Target (issue 5): sfsync faster than the baseline on both runs.

Measured on the shared 2-core machine (2026-11-28), 1,000,000 rows, runs interleaved after/before on
the same tree (only the state store and loader differing), load average 0.7-1.1:

                         sfsync first   simple-salesforce first   ratio   sfsync API calls   sfsync peak RSS
  before, run 1              39.5 s           34.6 s              0.88x        35               962 MB
  before, run 2              42.9 s           33.3 s              0.78x        38               988 MB
  before, run 3              40.1 s           35.9 s              0.90x        36               979 MB
  after,  run 1 (*)          35.8 s           37.3 s              1.04x       119               618 MB
  after,  run 2 (*)          32.2 s           33.3 s              1.03x       111               681 MB
  after,  run 3              34.5 s           35.5 s              1.03x        54               625 MB

  (*) an earlier pipeline that polled every job on its own; now one job is polled at a time, in start order.

1% rerun: sfsync 2.4-2.7 s vs 31-35 s (12-14x); unchanged rerun 0.6-0.8 s, 0 API calls. The first run is
bound by the emulator's Bulk processing (~28 s for 1M rows, the same work for both, and it varies by a
few seconds run to run). What sfsync adds around it went from ~13 s to ~4 s: row results are Parquet
part files instead of SQLite rows (1M rows: ~7 s -> ~0.2 s), Bulk results are matched to primary keys by
one vectorised comparison with the uploaded CSV (parsed while the job runs), the snapshot advance skips
its joins when every row was accepted, and the jobs run as a pipeline (20 MB jobs start as their CSV is
written; each finished job is collected while later ones run). Since then (2026-12-03): the first job is
2 MB so the org starts at once, and the advance skips its key join when every row was accepted
(docs/benchmarks.md has the split before and after). Left: reading, diffing and planning (~1.3 s)
before the first upload, and the snapshot write after the last answer.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_ROWS = 1_000_000
#: Share of rows changed before the rerun.
CHANGED_PERCENT = 1
#: Seconds simple-salesforce waits before and between polls of a Bulk job (its ``wait`` argument).
BASELINE_POLL_SECONDS = 1
STARTUP_SECONDS = 60.0
SYNC = "contacts"
CLIENT_ID = "sfsync-demo-client"
SECRETS = {"SF_CLIENT_SECRET": "sfsync-demo-secret", "SF_PASSWORD": "sfsync-demo"}
MAPPINGS = {"first_name": "FirstName", "last_name": "LastName", "email": "Email", "title": "Title"}


class OrgClock:
    """When sfsync waits on the org: intervals (perf_counter seconds) during which an HTTP request is in
    flight (from sending it until the last byte of its answer is read) or a thread sleeps between Bulk
    polls (or before a retry). Filled from several threads (the pipelined Bulk jobs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.intervals: list[tuple[float, float]] = []
        self.jobs: list[tuple[float, float]] = []  # Bulk jobs the org is processing (closed until done)
        self.requests = 0

    def add(self, start: float, end: float) -> None:
        with self._lock:
            self.intervals.append((start, end))

    def waiting(self, start: float, end: float, *, jobs: bool = False) -> float:
        """Seconds of [start, end] covered by at least one interval (their union, clipped); with ``jobs``
        the times the org was processing a closed Bulk job count too."""
        with self._lock:
            every = self.intervals + (self.jobs if jobs else [])
            spans = sorted((max(a, start), min(b, end)) for a, b in every if b > start and a < end)
        total, cur_a, cur_b = 0.0, None, None
        for a, b in spans:
            if cur_b is None or a > cur_b:
                if cur_b is not None and cur_a is not None:
                    total += cur_b - cur_a
                cur_a, cur_b = a, b
            else:
                cur_b = max(cur_b, b)
        if cur_a is not None and cur_b is not None:
            total += cur_b - cur_a
        return total


class _TimedStream(httpx.SyncByteStream):
    """An answer's body: each read from the socket is time spent waiting on the org."""

    def __init__(self, inner: httpx.SyncByteStream, clock: OrgClock) -> None:
        self._inner, self._clock = inner, clock

    def __iter__(self) -> Iterator[bytes]:
        it = iter(self._inner)
        while True:
            t = time.perf_counter()
            chunk = next(it, None)
            self._clock.add(t, time.perf_counter())
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        self._inner.close()


class TimedTransport(httpx.BaseTransport):
    """The HTTP transport sfsync's client is given (``SyncSession(transport=...)``, the injection point the
    tests use too): a plain ``httpx.HTTPTransport`` trusting the emulator's CA, with the client's default
    pool size, that records each request's time in flight in an :class:`OrgClock`."""

    def __init__(self, ca: Path, clock: OrgClock) -> None:
        from sfsync.salesforce.settings import ConnectionSettings

        pool = int(ConnectionSettings.model_fields["max_connections"].default)
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(ca))
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        self._inner = httpx.HTTPTransport(verify=context, limits=limits)
        self._clock = clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        t = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
        finally:
            self._clock.add(t, time.perf_counter())
            self._clock.requests += 1
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_TimedStream(response.stream, self._clock),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()


def time_poll_sleeps(clock: OrgClock) -> None:
    """Bulk polls (and retry backoff) wait through ``Transport.sleep``: record those waits too."""
    from sfsync.salesforce.transport import Transport

    plain = Transport.sleep

    def timed(self: Transport, seconds: float) -> None:
        t = time.perf_counter()
        try:
            plain(self, seconds)
        finally:
            clock.add(t, time.perf_counter())

    Transport.sleep = timed  # type: ignore[method-assign]


@dataclass
class RunSplit:
    """One sfsync run split into waiting on the org and sfsync's own time, per phase (progress events)."""

    wall_s: float = 0.0
    org_wait_s: float = 0.0
    org_busy_s: float = 0.0  # org_wait_s, plus while a closed Bulk job was being processed
    cpu_s: float = 0.0  # CPU time of the sfsync process (every thread) during the run
    requests: int = 0
    # (phase, wall, org wait, org busy)
    phases: list[tuple[str, float, float, float]] = field(default_factory=list)

    @property
    def own_s(self) -> float:
        return self.wall_s - self.org_wait_s

    @property
    def own_share(self) -> float:
        return self.own_s / self.wall_s if self.wall_s else 0.0

    @property
    def alone_s(self) -> float:
        """sfsync's own time that no work of the org overlapped: its share of the critical path."""
        return self.wall_s - self.org_busy_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 2),
            "org_wait_s": round(self.org_wait_s, 2),
            "own_s": round(self.own_s, 2),
            "own_share": round(self.own_share, 3),
            "org_busy_s": round(self.org_busy_s, 2),
            "alone_s": round(self.alone_s, 2),
            "alone_share": round(self.alone_s / self.wall_s if self.wall_s else 0.0, 3),
            "cpu_s": round(self.cpu_s, 2),
            "requests": self.requests,
            "phases": {
                p: {"wall_s": round(w, 2), "org_wait_s": round(o, 2), "org_busy_s": round(b, 2)}
                for p, w, o, b in self.phases
            },
        }


def timed_run(session: Any, clock: OrgClock) -> tuple[Any, RunSplit]:
    """``session.run(SYNC)`` with its wall time split by the clock and by the run's progress events."""
    from sfsync.sync.engine import RunOptions
    from sfsync.sync.progress import BulkJobChanged, PhaseStarted

    marks: list[tuple[str, float]] = []
    closed: dict[str, float] = {}

    def progress(event: object) -> None:
        now = time.perf_counter()
        if isinstance(event, PhaseStarted):
            marks.append((str(event.phase), now))
        elif isinstance(event, BulkJobChanged):  # closed (UploadComplete) .. seen done by a poll
            job = event.job
            if job.state in ("UploadComplete", "InProgress"):
                closed.setdefault(job.id, now)
            elif job.state in ("JobComplete", "Failed", "Aborted") and job.id in closed:
                clock.jobs.append((closed.pop(job.id), now))

    requests = clock.requests
    cpu = time.process_time()
    start = time.perf_counter()
    marks.append(("reading", start))  # checks, then the model read (no PhaseStarted before diffing)
    result = session.run(SYNC, RunOptions(progress=progress))
    end = time.perf_counter()
    split = RunSplit(
        wall_s=end - start,
        org_wait_s=clock.waiting(start, end),
        org_busy_s=clock.waiting(start, end, jobs=True),
        cpu_s=time.process_time() - cpu,
        requests=clock.requests - requests,
    )
    for (name, a), (_, b) in zip(marks, [*marks[1:], ("end", end)], strict=True):
        split.phases.append((name, b - a, clock.waiting(a, b), clock.waiting(a, b, jobs=True)))
    return result, split


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int | None = None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_emulator(db_path: Path, tls_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    from sfsync.emulator.tls import ensure_tls_files

    ca = ensure_tls_files(tls_dir).ca_path
    code = (
        "from sfsync.emulator import serve; "
        f"serve(port={port}, tls=True, tls_dir={str(tls_dir)!r}, db_path={str(db_path)!r},"
        " log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the emulator exited with code {proc.returncode} before listening")
        try:
            if httpx.get(f"https://127.0.0.1:{port}/services/data", verify=str(ca), timeout=1).is_success:
                return proc, ca
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the emulator did not answer on port {port} within {STARTUP_SECONDS}s")


def make_warehouse(path: Path, rows: int) -> None:
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE people AS SELECT i AS n, 'ext-' || lpad(i::VARCHAR, 9, '0') AS id,"
            " 'First' || (i % 977) AS first_name, 'Last ' || i AS last_name,"
            " 'person' || i || '@example.com' AS email, 'Title ' || (i % 13) AS title FROM range(?) t(i)",
            [rows],
        )


def change_warehouse(path: Path) -> int:
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute(f"UPDATE people SET title = title || ' (changed)' WHERE n % 100 < {CHANGED_PERCENT}")
        row = con.execute(f"SELECT count(*) FROM people WHERE n % 100 < {CHANGED_PERCENT}").fetchone()
    return int(row[0]) if row else 0


def write_project(root: Path, url: str, ca: Path) -> Path:
    import yaml

    project = {
        "version": 1,
        "sources": {"wh": {"type": "duckdb", "path": "wh.duckdb"}},
        "models": {"people": {"source": "wh", "kind": "user", "primary_key": "id", "table": "people"}},
        "destinations": {
            "org": {
                "type": "salesforce",
                "login_url": url,
                "ca_bundle": str(ca),
                # poll as often as the baseline does (BASELINE_POLL_SECONDS)
                "settings": {"bulk_poll_seconds": float(BASELINE_POLL_SECONDS)},
                "auth": {
                    "flow": "password",
                    "client_id": CLIENT_ID,
                    "client_secret": "${SF_CLIENT_SECRET}",
                    "username": "admin@example.com",
                    "password": "${SF_PASSWORD}",
                },
            }
        },
        "syncs": {
            SYNC: {
                "from": "people",
                "to": "org",
                "object": "Contact",
                "mode": "upsert",
                "object_id": {"column": "id", "field": "External_Id__c"},
                "mappings": MAPPINGS,
            }
        },
    }
    path = root / "sfsync.yml"
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    return path


def sfsync_runs(project_file: Path, warehouse: Path, rows: int, ca: Path) -> dict[str, Any]:
    from sfsync.config import load_project
    from sfsync.state import StateStore
    from sfsync.sync.engine import RunOptions, SyncSession

    clock = OrgClock()
    time_poll_sleeps(clock)
    session = SyncSession(
        load_project(project_file, environ=SECRETS),
        StateStore.open(project_file.parent / ".sfsync"),
        transport=TimedTransport(ca, clock),
    )
    out: dict[str, Any] = {}
    try:
        first, split = timed_run(session, clock)
        out["first_s"] = split.wall_s
        out["first_split"] = split.as_dict()
        if (first.counts.created, first.counts.rejected) != (rows, 0):
            raise SystemExit(f"sfsync's first run did not create every row: {first.counts}")
        changed = change_warehouse(warehouse)
        t = time.perf_counter()
        rerun = session.run(SYNC, RunOptions())
        out["rerun_s"] = time.perf_counter() - t
        if (rerun.counts.updated, rerun.counts.rejected) != (changed, 0):
            raise SystemExit(f"sfsync's rerun did not update the {changed} changed rows: {rerun.counts}")
        t = time.perf_counter()
        same = session.run(SYNC, RunOptions())
        out["unchanged_s"] = time.perf_counter() - t
        out.update(
            changed=changed,
            first_api_calls=first.counts.api_calls,
            rerun_api_calls=rerun.counts.api_calls,
            unchanged_api_calls=same.counts.api_calls,
        )
    finally:
        session.close()
        session.store.close()
    return out


def export_csv(warehouse: Path, csv_path: Path) -> float:
    import duckdb

    t = time.perf_counter()
    cols = ", ".join(f"{c} AS {f}" for c, f in MAPPINGS.items())
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(f"COPY (SELECT id AS External_Id__c, {cols} FROM people) TO '{csv_path}' (HEADER)")
    return time.perf_counter() - t


def baseline_runs(base: str, ca: Path, warehouse: Path, tmp: Path, rows: int) -> dict[str, Any]:
    import requests
    from simple_salesforce.api import Salesforce  # the package re-exports it without __all__

    token = httpx.post(
        f"{base}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": SECRETS["SF_CLIENT_SECRET"],
            "username": "admin@example.com",
            "password": SECRETS["SF_PASSWORD"],
        },
        verify=str(ca),
    ).json()["access_token"]
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca)  # how a simple-salesforce user trusts a private CA
    sf = Salesforce(instance_url=base, session_id=token, session=requests.Session(), version="62.0")
    out: dict[str, Any] = {}
    for name in ("first", "rerun"):
        if name == "rerun":
            change_warehouse(warehouse)
        csv_path = tmp / f"baseline-{name}.csv"
        t = time.perf_counter()
        export = export_csv(warehouse, csv_path)
        bulk2: Any = sf.bulk2
        results: list[dict[str, Any]] = bulk2.Contact.upsert(
            csv_file=str(csv_path), external_id_field="External_Id__c", wait=BASELINE_POLL_SECONDS
        )
        out[f"{name}_s"] = time.perf_counter() - t
        out[f"{name}_export_s"] = export
        processed = sum(int(r["numberRecordsProcessed"]) for r in results)
        failed = sum(int(r["numberRecordsFailed"]) for r in results)
        if (processed, failed) != (rows, 0):
            raise SystemExit(f"the baseline {name} upsert processed {processed} rows, {failed} failed")
        out[f"{name}_jobs"] = len(results)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="Contact rows in the model")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--dir", help="work directory kept afterwards (default: a temporary one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sfsync-e2e-") as scratch:
        tmp = Path(args.dir) if args.dir else Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        port = free_port()
        proc, ca = start_emulator(tmp / "org.sqlite", tmp / "tls", port)
        base = f"https://127.0.0.1:{port}"
        try:
            warehouse = tmp / "wh.duckdb"
            make_warehouse(warehouse, args.rows)
            ours = sfsync_runs(write_project(tmp, base, ca), warehouse, args.rows, ca)
            httpx.post(f"{base}/__admin/reset", verify=str(ca), timeout=600).raise_for_status()
            sfsync_rss = peak_rss_mb()  # before simple-salesforce runs in this process
            fresh = tmp / "wh-baseline.duckdb"  # the same rows, before the change
            make_warehouse(fresh, args.rows)
            theirs = baseline_runs(base, ca, fresh, tmp, args.rows)
            emulator_rss = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    result = {
        "benchmark": "e2e_upsert",
        "rows": args.rows,
        "changed_rows": ours["changed"],
        "sfsync": {k: round(v, 2) if isinstance(v, float) else v for k, v in ours.items()},
        "sfsync_own_share_first": ours["first_split"]["own_share"],
        "simple_salesforce": {k: round(v, 2) if isinstance(v, float) else v for k, v in theirs.items()},
        "ratio_first": round(theirs["first_s"] / ours["first_s"], 2),
        "ratio_rerun": round(theirs["rerun_s"] / ours["rerun_s"], 2),
        "sfsync_process_peak_rss_mb": round(sfsync_rss, 1),
        "emulator_peak_rss_mb": round(emulator_rss, 1),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        s, b = result["sfsync"], result["simple_salesforce"]
        print(f"e2e upsert of {args.rows:,} Contacts through the emulator (TLS, file-backed org)")
        print(
            f"  first run   sfsync {s['first_s']:8.2f} s ({s['first_api_calls']} API calls)   "
            f"simple-salesforce {b['first_s']:8.2f} s (CSV export {b['first_export_s']:.2f} s, "
            f"{b['first_jobs']} job(s))   -> sfsync {result['ratio_first']}x as fast"
        )
        sp = s["first_split"]
        print(
            f"    first run split: waiting on the org {sp['org_wait_s']:.2f} s ({sp['requests']} requests"
            f" in flight or Bulk poll waits), sfsync's own (strict) {sp['own_s']:.2f} s"
            f" = {100 * sp['own_share']:.1f}% of the run; sfsync process CPU {sp['cpu_s']:.2f} s"
            f" = {100 * sp['cpu_s'] / sp['wall_s']:.1f}% of the run"
        )
        print(
            f"    counting the org's processing of closed Bulk jobs (progress events) as the org's time too:"
            f" sfsync alone (critical path) {sp['alone_s']:.2f} s = {100 * sp['alone_share']:.1f}% of the run"
            " (target < 10%)"
        )
        for phase, t in sp["phases"].items():
            print(
                f"      {phase:10} {t['wall_s']:7.2f} s, waiting on the org {t['org_wait_s']:6.2f} s,"
                f" sfsync's own {t['wall_s'] - t['org_wait_s']:6.2f} s"
                f" (alone {t['wall_s'] - t['org_busy_s']:6.2f} s)"
            )
        print(
            f"  {CHANGED_PERCENT}% rerun    sfsync {s['rerun_s']:8.2f} s ({s['rerun_api_calls']} API calls, "
            f"{result['changed_rows']:,} rows sent)   simple-salesforce {b['rerun_s']:8.2f} s "
            f"(every row again)   -> sfsync {result['ratio_rerun']}x as fast"
        )
        print(f"  unchanged   sfsync {s['unchanged_s']:8.2f} s ({s['unchanged_api_calls']} API calls)")
        print(
            f"  peak RSS: sfsync process {result['sfsync_process_peak_rss_mb']} MB, "
            f"emulator {result['emulator_peak_rss_mb']} MB"
        )
    ok = result["ratio_first"] > 1 and result["ratio_rerun"] > 1
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
