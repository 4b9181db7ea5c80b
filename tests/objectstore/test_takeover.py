"""A worker killed mid-run that never comes back (its ``.sfsync/`` is gone with its machine): another
worker, sharing only the PostgreSQL state and the S3 bucket (``state.files``), settles its journal from
the work files published to the bucket, so an ``insert`` sync creates each record exactly once.

Real parts throughout: the command line in subprocesses, the live emulator over a socket, moto's S3
server, PostgreSQL. Worker A is SIGKILLed (``kill_child``) right before it publishes its first row
results part: its rows were journaled and sent (REST), or its Bulk job was created, uploaded and closed,
but nothing of their outcome is stored yet.
"""

from __future__ import annotations

import shutil
import signal
from typing import Any

import psycopg
import pytest

from tests.objectstore.helpers import (
    ROWS,
    WORK_KEYS,
    S3WorkersFactory,
    contacts_insert,
    run_killed_at,
    run_when_free,
)
from tests.objectstore.server import S3Server
from tests.plugins.workers import SharedState


def _pending_journal(shared: SharedState) -> list[tuple[str, str]]:
    with psycopg.connect(shared.url, autocommit=True) as conn:
        rows = conn.execute(
            f'SELECT job_id, state FROM "{shared.schema}".journal'
            " WHERE state NOT IN ('collected', 'aborted')"
        ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def _journal(shared: SharedState) -> list[tuple[str, str]]:
    with psycopg.connect(shared.url, autocommit=True) as conn:
        rows = conn.execute(f'SELECT job_id, state FROM "{shared.schema}".journal ORDER BY id').fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def _external_ids(live_emulator: Any) -> list[str]:
    found = live_emulator.org.query("SELECT External_Id__c FROM Contact")
    return sorted(str(r["External_Id__c"]) for r in found.records)


@pytest.mark.slow
@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_a_worker_gone_for_good_is_settled_by_another_from_the_bucket(
    s3_workers: S3WorkersFactory, live_emulator: Any, s3_server: S3Server, bucket: str, api: str
) -> None:
    workers = s3_workers(syncs=contacts_insert(api))
    (a, b), shared = workers.projects, workers.state

    # A sends its rows, then dies right before storing their outcomes (the first results part)
    proc = run_killed_at(a, "copy", "/part-")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    expected = sorted(f"p{i}" for i in range(ROWS))
    assert _external_ids(live_emulator) == expected  # created in the org, their Ids known only there
    (entry,) = _pending_journal(shared)
    assert entry[0].startswith("rest-" if api == "rest" else "750"), entry
    assert s3_server.keys(bucket, WORK_KEYS), "the run's work files were published before it sent"

    # A's machine is gone with its .sfsync/ (work files, cache)
    shutil.rmtree(a.parent / ".sfsync")

    # B takes the sync over once A's lease ran out: it settles A's journal and creates nothing again
    took_over = run_when_free(b)
    assert took_over["recovered_runs"], took_over
    assert _pending_journal(shared) == []
    assert [state for _, state in _journal(shared)] == ["collected"], "not aborted"
    assert took_over["counts"]["created"] == 0 and took_over["counts"]["unchanged"] == ROWS, took_over
    assert _external_ids(live_emulator) == expected  # exactly one record per model row

    # the snapshot advanced past A's run: a further run sends nothing, and the bucket's work files are gone
    before = live_emulator.usage()
    again = run_when_free(b)
    assert again["counts"]["unchanged"] == ROWS and again["counts"]["api_calls"] == 0, again
    assert live_emulator.usage() == before
    assert _external_ids(live_emulator) == expected
    assert s3_server.keys(bucket, WORK_KEYS) == []
