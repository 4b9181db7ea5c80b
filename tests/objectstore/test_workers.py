"""Two working directories of one project (two workers) sharing a PostgreSQL state store and an S3 bucket
for snapshots and row results, through the real command line against a live emulator and moto's S3
server: what one worker sent, the other does not send again; a worker killed while publishing to the
bucket leaves nothing the next run trusts; bad credentials fail by name before any run is recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from tests.objectstore.server import REGION, WORKER_ACTIONS, Key, S3Server

PROJECT = """\
version: 1
sources:
  wh: {{type: duckdb, path: {warehouse}}}
models:
  people: {{source: wh, kind: user, primary_key: id, table: people}}
destinations:
  org:
    type: salesforce
    login_url: {url}
    auth: {{flow: password, client_id: sfsync-demo-client, client_secret: "${{SF_SECRET}}",
           username: admin@example.com, password: "${{SF_PASSWORD}}"}}
state:
  url: "${{STATE_URL}}"
  schema: {schema}
  lease_seconds: 2
  lease_heartbeat_seconds: 0.5
  files:
    url: s3://{bucket}/prod
    endpoint_url: {endpoint}
    region: {region}
    access_key_id: "${{S3_KEY}}"
    secret_access_key: "${{S3_SECRET}}"
syncs:
  contacts:
    from: people
    to: org
    object: Contact
    mode: upsert
    object_id: {{column: id, field: External_Id__c}}
    mappings: {{first: FirstName, last: LastName, email: Email}}
"""
ROWS = 25
BUSY_WAIT_SECONDS = 60


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "AWS_"))}


def _sfsync(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sfsync", *args, "--project", str(project)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=180,
        cwd=project.parent,
    )


def _run(project: Path) -> dict[str, Any]:
    """``sfsync run contacts --json``, waiting while a dead worker's lease runs out."""
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    while True:
        done = _sfsync(project, "run", "contacts", "--json")
        busy = "already running" in done.stdout + done.stderr  # the lease of the killed worker
        if done.returncode == 0 or not busy or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)
    return dict(result)


def _workers(
    tmp_path: Path, emulator_url: str, postgres_url: str, schema: str, server: S3Server, bucket: str, key: Key
) -> tuple[Path, Path, Path]:
    """Two project directories (a, b) with the same project file; the warehouse both read."""
    shared = tmp_path / "shared"
    shared.mkdir()
    warehouse = shared / "wh.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute(
        "create table people as select 'p' || i as id, 'F' || i as first, 'L' || i as last,"
        f" 'u' || i || '@example.com' as email from range({ROWS}) t(i)"
    )
    con.close()
    text = PROJECT.format(
        warehouse=warehouse,
        url=emulator_url,
        schema=schema,
        bucket=bucket,
        endpoint=server.endpoint,
        region=REGION,
    )
    out = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        (home / "sfsync.yml").write_text(text)
        (home / ".env").write_text(
            f"SF_SECRET=sfsync-demo-secret\nSF_PASSWORD=sfsync-demo\nSTATE_URL={postgres_url}\n"
            f"S3_KEY={key.access_key_id}\nS3_SECRET={key.secret_access_key}\n"
        )
        out.append(home / "sfsync.yml")
    return out[0], out[1], warehouse


def _org_contacts(live_emulator: Any) -> dict[str, tuple[str, str]]:
    found = live_emulator.org.query("SELECT External_Id__c, FirstName, Email FROM Contact")
    return {r["External_Id__c"]: (r["FirstName"], r["Email"]) for r in found.records}


@pytest.mark.slow
def test_two_workers_take_turns_with_files_on_s3(
    tmp_path: Path, live_emulator: Any, postgres_url: str, schema: str, s3_server: S3Server, bucket: str
) -> None:
    worker = s3_server.user(WORKER_ACTIONS, bucket)  # the actions docs/deployment.md tells users to grant
    a, b, warehouse = _workers(tmp_path, live_emulator.url, postgres_url, schema, s3_server, bucket, worker)

    first = _run(a)
    assert first["counts"]["created"] == ROWS
    keys = s3_server.keys(bucket)
    assert "prod/snapshots/contacts/CURRENT" in keys
    assert any(k.startswith("prod/snapshots/contacts/snapshot-000001-") for k in keys)
    assert any(k.startswith(f"prod/results/{first['run_id']}/part-") for k in keys), keys
    assert not [k for k in keys if "/.tmp-" in k or ".sfsync-probe" in k]
    current = json.loads(s3_server.read(bucket, "prod/snapshots/contacts/CURRENT"))
    assert current["rows"] == ROWS

    # worker b reads a's snapshot from the bucket: nothing to send
    before = live_emulator.usage()
    second = _run(b)
    assert second["counts"]["unchanged"] == ROWS and second["counts"]["api_calls"] == 0
    assert live_emulator.usage() == before

    # three rows change; b sends them, then a (whose cache holds generation 1) sends nothing
    con = duckdb.connect(str(warehouse))
    con.execute("update people set first = 'New' || first where id in ('p1', 'p2', 'p3')")
    con.close()
    third = _run(b)
    assert (third["counts"]["changed"], third["counts"]["updated"]) == (3, 3)
    fourth = _run(a)
    assert fourth["counts"]["unchanged"] == ROWS and fourth["counts"]["api_calls"] == 0
    contacts = _org_contacts(live_emulator)
    assert len(contacts) == ROWS
    assert contacts["p2"] == ("NewF2", "u2@example.com") and contacts["p4"] == ("F4", "u4@example.com")

    # a's row results are read by b from the bucket
    shown = _sfsync(b, "show-run", str(first["run_id"]), "--json")
    assert shown.returncode == 0, shown.stderr
    assert worker.secret_access_key not in shown.stdout + shown.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("step", "needle"),
    [
        ("upload", "/.tmp-"),  # the snapshot's first upload is under way (its temporary key)
        ("copy", "/snapshot-000001-"),  # the snapshot reached its temporary key, not its name
        ("copy", "/CURRENT"),  # the snapshot's files are published, the pointer not yet
    ],
)
def test_a_worker_killed_while_publishing_leaves_the_next_run_right(
    tmp_path: Path,
    live_emulator: Any,
    postgres_url: str,
    schema: str,
    s3_server: S3Server,
    bucket: str,
    step: str,
    needle: str,
) -> None:
    a, b, _ = _workers(tmp_path, live_emulator.url, postgres_url, schema, s3_server, bucket, s3_server.admin)
    needle_in = needle if step == "copy" else f"snapshots/contacts{needle}"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.objectstore.kill_child", str(a), "contacts", step, needle_in],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=180,
        cwd=a.parent,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(_org_contacts(live_emulator)) == ROWS  # the rows went out before the snapshot
    # nothing under a final name a later run would trust: no pointer, or none naming a missing file
    keys = s3_server.keys(bucket, "prod/snapshots/")
    assert "prod/snapshots/contacts/CURRENT" not in keys

    # the same worker runs again: it settles the killed run (its diff is in a's .sfsync/work) and sends
    # nothing; then b, reading the bucket only, sends nothing either
    again = _run(a)
    assert again["recovered_runs"] and again["sent"] == 0, again
    assert again["counts"]["unchanged"] == ROWS and again["counts"]["created"] == 0, again
    before = live_emulator.usage()
    other = _run(b)
    assert other["counts"]["unchanged"] == ROWS and other["counts"]["api_calls"] == 0
    assert live_emulator.usage() == before
    contacts = _org_contacts(live_emulator)
    assert len(contacts) == ROWS and contacts["p7"] == ("F7", "u7@example.com")
    assert not [k for k in s3_server.keys(bucket, "prod/snapshots/") if "/.tmp-" in k]


@pytest.mark.slow
def test_bad_credentials_stop_before_any_run_is_recorded(
    tmp_path: Path, live_emulator: Any, postgres_url: str, schema: str, s3_server: S3Server, bucket: str
) -> None:
    wrong = Key(s3_server.admin.access_key_id, "wrong-secret-31337")
    a, _, _ = _workers(tmp_path, live_emulator.url, postgres_url, schema, s3_server, bucket, wrong)
    done = _sfsync(a, "run", "contacts")
    assert done.returncode != 0
    assert "state.files" in done.stderr and "access denied" in done.stderr, done.stderr
    assert "wrong-secret-31337" not in done.stdout + done.stderr
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()
    assert tables == (0,)  # the database was not even opened: no run recorded
    assert (
        live_emulator.usage() == 0 or live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 0
    )
    assert s3_server.keys(bucket) == []
