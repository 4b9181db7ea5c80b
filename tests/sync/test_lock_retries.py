"""Rows that fail with UNABLE_TO_LOCK_ROW in a Bulk job are sent again within the run, then next run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sfsync.api import Project
from tests.plugins.projects import people_project, write_people_project

SYNCS = """\
  contacts:
    from: people
    to: org
    object: Contact
    mode: upsert
    api: bulk
    object_id: {column: id, field: External_Id__c}
    mappings: {last: LastName}
"""


def _project(tmp_path: Path, emulator: Any, retries: int) -> Project:
    text = people_project(emulator.base_url, SYNCS, settings=f"{{bulk_lock_retries: {retries}}}")
    people = "select 'k' || i as id, 'Last ' || i as last from range(300) t(i)"
    return Project.load(write_people_project(tmp_path, text, people), transport=emulator.transport)


def _contacts(emulator: Any) -> int:
    return int(emulator.org.query("SELECT COUNT() FROM Contact").total_size)


@pytest.mark.slow
def test_locked_rows_are_retried_in_new_jobs_within_the_run(tmp_path: Path, emulator: Any) -> None:
    emulator.set_faults(lock_row_rate=0.3, seed=7)
    with _project(tmp_path, emulator, retries=8) as project:
        result = project.run("contacts")
        assert result.api == "bulk"
        assert (result.counts.created, result.counts.rejected) == (300, 0)
        assert _contacts(emulator) == 300
        assert project.store.rejected_rows(result.run_id) == []


def test_without_retries_locked_rows_are_rejected_then_sent_next_run(tmp_path: Path, emulator: Any) -> None:
    emulator.set_faults(lock_row_rate=0.3, seed=7)
    with _project(tmp_path, emulator, retries=0) as project:
        first = project.run("contacts")
        locked = first.rejected_by_code.get("UNABLE_TO_LOCK_ROW", 0)
        assert locked > 30 and first.counts.created == 300 - locked
        emulator.set_faults(lock_row_rate=0.0)
        second = project.run("contacts")
        assert (second.counts.new, second.counts.created, second.counts.rejected) == (locked, locked, 0)
        assert _contacts(emulator) == 300
