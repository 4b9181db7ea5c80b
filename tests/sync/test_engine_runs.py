"""The sync engine end to end on the in-process emulator: plan, API choice, progress, row results, faults.

What the conformance cases (``tests/conformance``) do not cover: the dry run, ``api: auto``, progress
events, Bulk results mapped back to primary keys when rows are identical, and the emulator's fault knobs
(transient 503s, record locks, a failed Bulk job, the daily quota running out mid-run, Ctrl-C).
Every test asserts the org's final records, read back from the emulator.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from sfsync.config import load_project
from sfsync.emulator.metadata.schema import DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD
from sfsync.errors import ConfigError, LimitError, StateError
from sfsync.state import RunPhase, RunProgress, RunStatus, StateStore
from sfsync.sync import load
from sfsync.sync.engine import RunOptions, SyncSession
from sfsync.sync.progress import (
    BulkJobChanged,
    Diffed,
    PhaseStarted,
    Planned,
    ProgressEvent,
    Reading,
    RunStarted,
    Sent,
)
from tests.plugins.emulator import InProcessEmulator

ENV = {"SF_SECRET": DEFAULT_CLIENT_SECRET, "SF_PASSWORD": DEFAULT_PASSWORD}


def _session(
    tmp_path: Path,
    emulator: InProcessEmulator,
    rows_sql: str,
    *,
    mode: str = "upsert",
    settings: dict[str, Any] | None = None,
    api: str = "auto",
    state: dict[str, Any] | None = None,
) -> SyncSession:
    """A project with one Contact sync named ``people`` over the DuckDB table built by ``rows_sql``."""
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute(f"CREATE OR REPLACE TABLE people AS {rows_sql}")
    sync: dict[str, Any] = {
        "from": "people",
        "to": "org",
        "object": "Contact",
        "mode": mode,
        "api": api,
        "mappings": {"last": "LastName", "email": "Email"},
    }
    if mode != "insert":
        sync["object_id"] = {"column": "id", "field": "External_Id__c"}
    project = {
        "version": 1,
        "sources": {"wh": {"type": "duckdb", "path": "wh.duckdb"}},
        "models": {"people": {"source": "wh", "kind": "user", "primary_key": "id", "table": "people"}},
        "destinations": {
            "org": {
                "type": "salesforce",
                "login_url": emulator.base_url,
                "auth": {
                    "flow": "password",
                    "client_id": "sfsync-demo-client",
                    "client_secret": "${SF_SECRET}",
                    "username": "admin@example.com",
                    "password": "${SF_PASSWORD}",
                },
                "settings": {"bulk_poll_seconds": 0.05, **(settings or {})},
            }
        },
        "syncs": {"people": sync},
    }
    if state is not None:
        project["state"] = state
    (tmp_path / "sfsync.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    return SyncSession(
        load_project(tmp_path / "sfsync.yml", environ=ENV),
        StateStore.open(tmp_path / ".sfsync"),
        transport=emulator.transport,
    )


def _sql(tmp_path: Path, statement: str) -> None:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute(statement)


def _contacts(
    emulator: InProcessEmulator, fields: str = "External_Id__c, LastName, Email"
) -> list[dict[str, Any]]:
    names = [f.strip() for f in fields.split(",")]
    return [{n: r[n] for n in names} for r in emulator.org.query(f"SELECT {fields} FROM Contact").records]


def _people(n: int, start: int = 0) -> str:
    return (
        f"SELECT 'p' || i AS id, 'Last ' || i AS last, 'p' || i || '@example.com' AS email"
        f" FROM range({start}, {start + n}) t(i)"
    )


def test_plan_is_a_dry_run_and_the_run_after_it_sends_everything(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    session = _session(tmp_path, emulator, _people(300), settings={"bulk_threshold": 1000})
    plan = session.plan("people")
    assert (plan.rows_read, plan.new, plan.to_send, plan.api) == (300, 300, 300, "rest")
    assert plan.operations == {"upsert": 300}
    assert plan.estimated_calls == 2  # 300 rows in collections of 200
    assert plan.samples and set(plan.samples[0]["fields"]) == {"LastName", "Email"}
    assert _contacts(emulator) == []

    result = session.run("people")
    assert (result.counts.new, result.counts.created, result.api) == (300, 300, "rest")
    assert result.counts.api_calls >= plan.estimated_calls
    assert len(_contacts(emulator)) == 300


def test_auto_api_uses_bulk_at_the_threshold_and_rest_below(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    session = _session(tmp_path, emulator, _people(120), settings={"bulk_threshold": 100})
    first = session.run("people")
    assert (first.api, first.counts.created) == ("bulk", 120)
    _sql(tmp_path, "UPDATE people SET email = 'new.' || email WHERE id IN ('p1', 'p2', 'p3')")
    second = session.run("people")
    assert (second.api, second.counts.updated) == ("rest", 3)
    emails = {r["External_Id__c"]: r["Email"] for r in _contacts(emulator)}
    assert emails["p2"] == "new.p2@example.com" and emails["p4"] == "p4@example.com"
    assert session.plan("people").to_send == 0


def test_progress_reports_each_step_in_order(tmp_path: Path, emulator: InProcessEmulator) -> None:
    session = _session(tmp_path, emulator, _people(450), settings={"rest_batch_size": 200})
    events: list[ProgressEvent] = []
    result = session.run("people", RunOptions(api="rest", progress=events.append))
    kinds = [type(e) for e in events]
    assert kinds[:7] == [RunStarted, Reading, PhaseStarted, Diffed, PhaseStarted, Planned, PhaseStarted]
    assert set(kinds[7:]) == {Sent}
    assert events[0] == RunStarted("people", result.run_id)
    phases = [e.phase for e in events if isinstance(e, PhaseStarted)]
    assert phases == [RunPhase.DIFFING, RunPhase.PLANNING, RunPhase.SENDING]
    assert events[3] == Diffed("people", rows=450, new=450, changed=0, unchanged=0, resent=0)
    assert events[5] == Planned("people", api="rest", to_send=450, refused=0)
    assert sum(e.rows for e in events if isinstance(e, Sent)) == 450 == result.counts.created
    # the run history holds where the run got to (what the web UI shows of a run started elsewhere)
    stored = session.store.get_run(result.run_id).progress
    assert stored == RunProgress(RunPhase.SENDING, rows_read=450, to_send=450, sent=450, api="rest")


def test_bulk_progress_names_each_job_and_its_states(
    tmp_path: Path, emulator: InProcessEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load, "PIPELINE_JOB_BYTES", 6000)  # several jobs of about 150 rows
    session = _session(tmp_path, emulator, _people(300), api="bulk")
    events: list[ProgressEvent] = []
    result = session.run("people", RunOptions(progress=events.append))
    jobs = [e.job for e in events if isinstance(e, BulkJobChanged)]
    ids = list(dict.fromkeys(j.id for j in jobs))
    assert len(ids) >= 2
    assert {e.job_id for e in session.store.journal_entries(run_id=result.run_id)} == set(ids)
    for job_id in ids:
        states = [j.state for j in jobs if j.id == job_id]
        assert states[0] == "Open" and "UploadComplete" in states and states[-1] == "JobComplete"
        assert [j.collected for j in jobs if j.id == job_id][-1] is True
    phases = [e.phase for e in events if isinstance(e, PhaseStarted)]
    assert phases == [RunPhase.DIFFING, RunPhase.PLANNING, RunPhase.SENDING, RunPhase.COLLECTING]
    stored = session.store.get_run(result.run_id).progress
    assert stored is not None and stored.phase is RunPhase.COLLECTING and stored.sent == 300
    assert {j.id for j in stored.jobs} == set(ids)
    assert all(j.collected and j.state == "JobComplete" for j in stored.jobs)
    assert sum(j.rows for j in stored.jobs) == 300 == sum(j.processed for j in stored.jobs)


def test_bulk_insert_results_map_back_to_each_primary_key_even_for_identical_rows(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    # 40 rows share three value combinations: Bulk results come back unordered and carry no primary key
    rows = "SELECT 'k' || i AS id, 'Same ' || (i % 3) AS last, NULL::VARCHAR AS email FROM range(40) t(i)"
    session = _session(tmp_path, emulator, rows, mode="insert", api="bulk")
    result = session.run("people")
    assert (result.api, result.counts.created) == ("bulk", 40)
    by_id = {r["Id"]: r["LastName"] for r in emulator.org.query("SELECT Id, LastName FROM Contact").records}
    stored = session.store.row_results(result.run_id)
    assert sorted(r.primary_key for r in stored) == sorted(f"k{i}" for i in range(40))
    assert len({r.record_id for r in stored}) == 40
    for r in stored:
        assert r.success and r.operation == "created"
        assert by_id[str(r.record_id)] == f"Same {int(r.primary_key[1:]) % 3}", r


@pytest.mark.parametrize("api", ["rest", pytest.param("bulk", marks=pytest.mark.slow)])
def test_transient_503s_are_retried_without_writing_twice(
    api: str, tmp_path: Path, emulator: InProcessEmulator
) -> None:
    emulator.set_faults(unavailable_rate=0.3, seed=3)
    session = _session(tmp_path, emulator, _people(500), mode="insert", api=api, settings={"max_retries": 8})
    result = session.run("people")
    emulator.set_faults(unavailable_rate=0.0)
    assert (result.status, result.counts.created, result.counts.rejected) == ("succeeded", 500, 0)
    assert session.client(session.project.resolve_sync("people")).stats.retries > 0
    assert Counter(r["LastName"] for r in _contacts(emulator)) == Counter(f"Last {i}" for i in range(500))


@pytest.mark.slow
def test_locked_rows_in_collections_are_retried_within_the_run(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    emulator.set_faults(lock_row_rate=0.2, seed=5)
    session = _session(tmp_path, emulator, _people(400), api="rest")
    result = session.run("people")
    assert (result.counts.created, result.counts.rejected) == (400, 0), result.rejected_by_code
    assert len(_contacts(emulator)) == 400


def test_a_failed_bulk_job_fails_the_run_and_its_rows_go_next_time(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    emulator.set_faults(bulk_fail=True)
    session = _session(tmp_path, emulator, _people(50), mode="insert", api="bulk")
    failed = session.run("people")
    assert failed.status == RunStatus.FAILED.value and failed.failed_jobs, failed
    assert failed.counts.created == 0 and failed.counts.rejected == 50
    assert _contacts(emulator) == []
    emulator.set_faults(bulk_fail=False)
    again = session.run("people")
    assert (again.status, again.counts.new, again.counts.created) == ("succeeded", 50, 50)
    assert len(_contacts(emulator)) == 50


def test_quota_running_out_mid_run_keeps_what_was_written_and_the_next_run_sends_only_the_rest(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    session = _session(
        tmp_path,
        emulator,
        _people(1000),
        mode="insert",
        api="rest",
        settings={"rest_batch_size": 100, "max_concurrency": 1, "api_usage_limit_percent": 100},
    )
    session.plan("people")  # logs in and reads describe
    emulator.set_faults(daily_api_quota=emulator.usage() + 4)  # room for four collection calls
    with pytest.raises(LimitError):
        session.run("people")
    written = len(_contacts(emulator))
    assert written == 400
    last = session.store.last_run("people")
    assert last is not None and last.status is RunStatus.FAILED
    emulator.set_faults(daily_api_quota=100_000)
    # a new session, as the next `sfsync run` would be (a client that saw the quota exhausted keeps refusing)
    session.close()
    session = SyncSession(session.project, session.store, transport=emulator.transport)
    again = session.run("people")
    assert again.counts.created == 1000 - written, again
    names = Counter(r["LastName"] for r in _contacts(emulator))
    assert names == Counter(f"Last {i}" for i in range(1000)), "a row was created twice or never"


def _interrupt_on_first_sent(event: ProgressEvent) -> None:
    """Ctrl-C as soon as the first outcomes are stored (a progress callback raising KeyboardInterrupt)."""
    if isinstance(event, Sent):
        raise KeyboardInterrupt


@pytest.mark.parametrize(
    "api",
    ["bulk", "rest"],
)
def test_ctrl_c_mid_run_stops_cleanly_and_the_next_run_does_not_create_twice(
    api: str, tmp_path: Path, emulator: InProcessEmulator
) -> None:
    session = _session(
        tmp_path, emulator, _people(600), mode="insert", api=api, settings={"max_concurrency": 2}
    )
    with pytest.raises(KeyboardInterrupt):
        session.run("people", RunOptions(progress=_interrupt_on_first_sent))
    last = session.store.last_run("people")
    assert last is not None and last.status is RunStatus.INTERRUPTED
    written = len(_contacts(emulator))
    assert written > 0
    again = session.run("people")
    assert again.status == "succeeded"
    assert again.counts.created == 600 - written
    assert Counter(r["LastName"] for r in _contacts(emulator)) == Counter(f"Last {i}" for i in range(600))
    assert session.run("people").counts.api_calls == 0


@pytest.mark.slow
def test_update_by_external_id_looks_many_keys_up_with_one_bulk_query(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    n = 20_050  # above LookupSettings.bulk_query_above (20,000): one Bulk query instead of SOQL IN batches
    records = [{"LastName": f"Old {i}", "External_Id__c": f"P{i}"} for i in range(n)]
    for start in range(0, n, 5000):
        assert all(r.success for r in emulator.org.create("Contact", records[start : start + 5000]))
    # warehouse keys differ in case (External ID text matches case-insensitively); 10 keys match nothing
    session = _session(tmp_path, emulator, _people(n + 10), mode="update")
    result = session.run("people")
    assert (result.api, result.counts.updated, result.rejected_by_code) == ("bulk", n, {"NOT_FOUND": 10})
    assert result.counts.created == 0
    assert result.counts.api_calls < 30, "20,000 keys through SOQL IN batches would take about 100 queries"
    org = {r["External_Id__c"]: r["LastName"] for r in _contacts(emulator)}
    assert len(org) == n and org["P7"] == "Last 7" and org[f"P{n - 1}"] == f"Last {n - 1}"
    refused = session.store.rejected_rows(result.run_id)
    assert sorted(r.primary_key for r in refused) == sorted(f"p{i}" for i in range(n, n + 10))


def test_a_column_type_change_with_no_changed_row_is_still_validated(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    """Issue 12, item 10: validation sees the model's current schema on every run. A column whose type
    changed (text → integer) while its values read the same leaves nothing to send, yet the mapping it
    feeds (integer → LastName, a string field) is now invalid: the run refuses it. A rerun where nothing
    changed, schema included, still spends no API call."""
    rows = "SELECT 'p' || i AS id, (100 + i)::VARCHAR AS last, 'p' || i || '@example.com' AS email"
    session = _session(tmp_path, emulator, f"{rows} FROM range(5) t(i)", api="rest")
    assert session.run("people").counts.created == 5
    assert session.run("people").counts.api_calls == 0

    _sql(tmp_path, "ALTER TABLE people ALTER last TYPE INTEGER")
    with pytest.raises(ConfigError) as refused:
        session.run("people")
    assert "column type integer cannot feed field type string" in " ".join(refused.value.problems)
    last = session.store.last_run("people")
    assert last is not None and last.status is RunStatus.FAILED

    _sql(tmp_path, "ALTER TABLE people ALTER last TYPE VARCHAR")
    fixed = session.run("people")
    assert fixed.status == "succeeded" and fixed.counts.new + fixed.counts.changed == 0
    assert session.run("people").counts.api_calls == 0
    assert sorted(r["LastName"] for r in _contacts(emulator)) == [str(100 + i) for i in range(5)]


def test_the_diffs_memory_is_state_diff_memory_limit_and_its_error_names_that_key(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    tight = _session(tmp_path, emulator, _people(2000), state={"diff_memory_limit": "1MB", "diff_threads": 1})
    with pytest.raises(
        StateError, match=r"(?s)failed in DuckDB.*raise state\.diff_memory_limit .*\(now 1MB\)"
    ):
        tight.run("people")
    assert _contacts(emulator) == []
    tight.close()
    tight.store.close()
    roomy = _session(
        tmp_path, emulator, _people(2000), state={"diff_memory_limit": "64MB", "diff_threads": 1}
    )
    assert roomy.run("people").counts.created == 2000
    assert len(_contacts(emulator)) == 2000
