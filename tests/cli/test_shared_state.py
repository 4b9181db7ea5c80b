"""Two working directories of one project sharing a PostgreSQL state store and a files directory, through
the real command line against a live emulator: each sees the other's runs, pauses and snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.projects import CONTACTS_UPSERT, run_cli
from tests.plugins.workers import SharedState, shared_workers


@pytest.mark.slow
def test_two_workers_share_history_pauses_and_snapshots(
    tmp_path: Path, live_emulator: Any, postgres_url: str, pg_schema: str
) -> None:
    state = SharedState(postgres_url, pg_schema, tmp_path / "shared" / "files")
    a, b = shared_workers(tmp_path, live_emulator.url, CONTACTS_UPSERT, state, rows=25).projects

    first = run_cli(a, "run", "contacts", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)[0]["counts"]["created"] == 25
    assert not (a.parent / ".sfsync" / "state.db").exists()  # nothing in SQLite
    assert live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 25

    # worker b sees a's run, and a's snapshot: its rerun sends nothing
    history = json.loads(run_cli(b, "runs", "--json").stdout)
    assert [(r["sync"], r["status"]) for r in history["runs"]] == [("contacts", "succeeded")]
    before = live_emulator.usage()
    again = run_cli(b, "run", "contacts", "--json")
    assert again.returncode == 0, again.stderr
    (second,) = json.loads(again.stdout)
    assert second["counts"]["unchanged"] == 25 and second["counts"]["api_calls"] == 0
    assert live_emulator.usage() == before

    # a pause made on b shows on a
    assert run_cli(b, "pause", "contacts", "--reason", "maintenance").returncode == 0
    paused = json.loads(run_cli(a, "runs", "--json").stdout)
    assert paused["syncs"]["contacts"]["paused"] is True
    assert len(paused["runs"]) == 2
    noted = run_cli(a, "run", "contacts")  # a manual run of a paused sync runs, with a note
    assert noted.returncode == 0 and "contacts is paused" in noted.stderr and "maintenance" in noted.stderr
    assert "sfsync-demo" not in noted.stderr
