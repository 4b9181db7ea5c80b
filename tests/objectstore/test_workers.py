"""Two working directories of one project (two workers) sharing a PostgreSQL state store and an S3 bucket
for snapshots and row results, through the real command line against a live emulator and moto's S3
server: what one worker sent, the other does not send again; a worker killed while publishing to the
bucket leaves nothing the next run trusts; bad credentials fail by name before any run is recorded."""

from __future__ import annotations

import json
import signal
from typing import Any

import duckdb
import psycopg
import pytest

from tests.objectstore.helpers import ROWS, S3WorkersFactory, run_killed_at, run_when_free
from tests.objectstore.server import WORKER_ACTIONS, Key, S3Server
from tests.plugins.projects import run_cli


def _org_contacts(live_emulator: Any) -> dict[str, tuple[str, str]]:
    found = live_emulator.org.query("SELECT External_Id__c, FirstName, Email FROM Contact")
    return {r["External_Id__c"]: (r["FirstName"], r["Email"]) for r in found.records}


@pytest.mark.slow
def test_two_workers_take_turns_with_files_on_s3(
    s3_workers: S3WorkersFactory, live_emulator: Any, s3_server: S3Server, bucket: str
) -> None:
    worker = s3_server.user(WORKER_ACTIONS, bucket)  # the actions docs/deployment.md tells users to grant
    workers = s3_workers(worker)
    (a, b), warehouse = workers.projects, workers.warehouse

    first = run_when_free(a)
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
    second = run_when_free(b)
    assert second["counts"]["unchanged"] == ROWS and second["counts"]["api_calls"] == 0
    assert live_emulator.usage() == before

    # three rows change; b sends them, then a (whose cache holds generation 1) sends nothing
    con = duckdb.connect(str(warehouse))
    con.execute("update people set first = 'New' || first where id in ('p1', 'p2', 'p3')")
    con.close()
    third = run_when_free(b)
    assert (third["counts"]["changed"], third["counts"]["updated"]) == (3, 3)
    fourth = run_when_free(a)
    assert fourth["counts"]["unchanged"] == ROWS and fourth["counts"]["api_calls"] == 0
    contacts = _org_contacts(live_emulator)
    assert len(contacts) == ROWS
    assert contacts["p2"] == ("NewF2", "u2@example.com") and contacts["p4"] == ("F4", "u4@example.com")

    # a's row results are read by b from the bucket
    shown = run_cli(b, "show-run", str(first["run_id"]), "--json")
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
    s3_workers: S3WorkersFactory,
    live_emulator: Any,
    s3_server: S3Server,
    bucket: str,
    step: str,
    needle: str,
) -> None:
    a, b = s3_workers().projects
    needle_in = needle if step == "copy" else f"snapshots/contacts{needle}"
    proc = run_killed_at(a, step, needle_in)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(_org_contacts(live_emulator)) == ROWS  # the rows went out before the snapshot
    # nothing under a final name a later run would trust: no pointer, or none naming a missing file
    keys = s3_server.keys(bucket, "prod/snapshots/")
    assert "prod/snapshots/contacts/CURRENT" not in keys

    # the same worker runs again: it settles the killed run (its diff is in a's .sfsync/work) and sends
    # nothing; then b, reading the bucket only, sends nothing either
    again = run_when_free(a)
    assert again["recovered_runs"] and again["sent"] == 0, again
    assert again["counts"]["unchanged"] == ROWS and again["counts"]["created"] == 0, again
    before = live_emulator.usage()
    other = run_when_free(b)
    assert other["counts"]["unchanged"] == ROWS and other["counts"]["api_calls"] == 0
    assert live_emulator.usage() == before
    contacts = _org_contacts(live_emulator)
    assert len(contacts) == ROWS and contacts["p7"] == ("F7", "u7@example.com")
    assert not [k for k in s3_server.keys(bucket, "prod/snapshots/") if "/.tmp-" in k]


@pytest.mark.slow
def test_bad_credentials_stop_before_any_run_is_recorded(
    s3_workers: S3WorkersFactory, live_emulator: Any, s3_server: S3Server, bucket: str
) -> None:
    wrong = Key(s3_server.admin.access_key_id, "wrong-secret-31337")
    workers = s3_workers(wrong)
    a, shared = workers.projects[0], workers.state
    done = run_cli(a, "run", "contacts")
    assert done.returncode != 0
    assert "state.files" in done.stderr and "access denied" in done.stderr, done.stderr
    assert "wrong-secret-31337" not in done.stdout + done.stderr
    with psycopg.connect(shared.url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (shared.schema,)
        ).fetchone()
    assert tables == (0,)  # the database was not even opened: no run recorded
    assert (
        live_emulator.usage() == 0 or live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 0
    )
    assert s3_server.keys(bucket) == []
