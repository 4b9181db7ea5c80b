"""Two working directories of one project sharing a PostgreSQL state store and a files directory, through
the real command line against a live emulator: each sees the other's runs, pauses and snapshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg import sql

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
  files: {files}
syncs:
  contacts:
    from: people
    to: org
    object: Contact
    mode: upsert
    object_id: {{column: id, field: External_Id__c}}
    mappings: {{first: FirstName, last: LastName, email: Email}}
"""


def _sfsync(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    return subprocess.run(
        [sys.executable, "-m", "sfsync", *args, "--project", str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=project.parent,
    )


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    name = f"cli_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.mark.slow
def test_two_workers_share_history_pauses_and_snapshots(
    tmp_path: Path, live_emulator: Any, postgres_url: str, schema: str
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    con = duckdb.connect(str(shared / "wh.duckdb"))
    con.execute(
        "create table people as select 'p' || i as id, 'F' || i as first, 'L' || i as last,"
        " 'u' || i || '@example.com' as email from range(25) t(i)"
    )
    con.close()
    text = PROJECT.format(
        warehouse=shared / "wh.duckdb", url=live_emulator.url, schema=schema, files=shared / "files"
    )
    projects = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        (home / "sfsync.yml").write_text(text)
        (home / ".env").write_text(
            f"SF_SECRET=sfsync-demo-secret\nSF_PASSWORD=sfsync-demo\nSTATE_URL={postgres_url}\n"
        )
        projects.append(home / "sfsync.yml")
    a, b = projects

    first = _sfsync(a, "run", "contacts", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)[0]["counts"]["created"] == 25
    assert not (a.parent / ".sfsync" / "state.db").exists()  # nothing in SQLite
    assert live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 25

    # worker b sees a's run, and a's snapshot: its rerun sends nothing
    history = json.loads(_sfsync(b, "runs", "--json").stdout)
    assert [(r["sync"], r["status"]) for r in history["runs"]] == [("contacts", "succeeded")]
    before = live_emulator.usage()
    again = _sfsync(b, "run", "contacts", "--json")
    assert again.returncode == 0, again.stderr
    (second,) = json.loads(again.stdout)
    assert second["counts"]["unchanged"] == 25 and second["counts"]["api_calls"] == 0
    assert live_emulator.usage() == before

    # a pause made on b shows on a
    assert _sfsync(b, "pause", "contacts", "--reason", "maintenance").returncode == 0
    paused = json.loads(_sfsync(a, "runs", "--json").stdout)
    assert paused["syncs"]["contacts"]["paused"] is True
    assert len(paused["runs"]) == 2
    noted = _sfsync(a, "run", "contacts")  # a manual run of a paused sync runs, with a note
    assert noted.returncode == 0 and "contacts is paused" in noted.stderr and "maintenance" in noted.stderr
    assert "sfsync-demo" not in noted.stderr
