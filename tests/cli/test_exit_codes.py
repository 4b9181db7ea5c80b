"""Every exit code of docs/cli.md#exit-codes, and every ``--json`` error shape, through the real command line.

Each case starts ``python -m sfsync`` against a live emulator and checks the exit code, what ``--json``
printed on stdout (a JSON object for every error, the same code as without ``--json``) and, where a run
happened, what the org holds afterwards.
"""

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
import pytest

from sfsync.state import StateStore
from tests.plugins.projects import people_project, run_cli, write_people_project

pytestmark = pytest.mark.slow

SYNCS = """\
  contacts:
    from: people
    to: org
    object: Contact
    mode: upsert
    object_id: {column: id, field: External_Id__c}
    mappings: {last: LastName, email: Email}
  leads:
    from: people
    to: org
    object: Lead
    mode: insert
    mappings: {last: LastName, company: Company, email: Email}
  typed:
    from: people
    to: org
    object: Contact
    mode: upsert
    object_id: {column: id, field: External_Id__c}
    mappings: {last: LastName, born: Birthdate, dnc: DoNotCall}
"""


def _people(directory: Path, bad_every: int | None) -> None:
    bad = f"when i % {bad_every} = 0 then 'not-an-email'" if bad_every else "when false then ''"
    with duckdb.connect(str(directory / "wh.duckdb")) as con:
        con.execute(
            "create or replace table people as select 'p' || i as id, 'Last ' || i as last,"
            f" 'Acme' as company, case {bad} else 'u' || i || '@example.com' end as email,"
            " date '1990-01-02' + cast(i as integer) as born, i % 2 = 0 as dnc"
            " from range(20) t(i)"
        )


@pytest.fixture
def project(tmp_path: Path, live_emulator: Any) -> Path:
    _people(tmp_path, None)
    return write_people_project(tmp_path, people_project(live_emulator.url, SYNCS))


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:  # pragma: no cover - the assertion message is what matters
        raise AssertionError(f"not JSON on stdout: {done.stdout!r}; stderr {done.stderr!r}") from None


def _error(done: subprocess.CompletedProcess[str], code: int, kind: str) -> dict[str, Any]:
    """The JSON error object printed with ``--json``: its exit code, type and required keys."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    body = _json(done)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"type", "message", "hint", "problems", "exit_code"} <= set(error), error
    assert error["type"] == kind and error["exit_code"] == code, error
    return dict(error)


def _contacts(live_emulator: Any) -> int:
    return int(live_emulator.org.query("SELECT COUNT() FROM Contact").total_size)


def test_0_when_every_row_is_accepted(project: Path, live_emulator: Any) -> None:
    ran = run_cli(project, "run", "contacts", "--json")
    assert ran.returncode == 0, ran.stderr
    (result,) = _json(ran)
    assert (result["status"], result["warning"], result["reason"]) == ("succeeded", False, None)
    assert _contacts(live_emulator) == 20


def test_partial_runs_exit_1_over_the_limit_unless_rejected_rows_are_allowed(
    project: Path, live_emulator: Any
) -> None:
    _people(project.parent, bad_every=4)  # 5 of 20 rows have a bad e-mail
    plain = project.read_text()
    mappings = "mappings: {last: LastName, email: Email}"
    project.write_text(plain.replace(mappings, f"{mappings}\n    warnings: {{rejected_rows_percent: 30}}"))
    tolerated = run_cli(project, "run", "contacts", "--json")
    assert tolerated.returncode == 0, tolerated.stderr  # 25% is within the sync's 30% limit
    (result,) = _json(tolerated)
    assert result["status"] == "partial" and result["warning"] is False
    assert result["reason"] == "25% of rows rejected (5 of 20), all with INVALID_EMAIL_ADDRESS"
    assert _contacts(live_emulator) == 15

    project.write_text(plain)  # the default: any rejected row warns
    ran = run_cli(project, "run", "contacts", "--json")
    assert ran.returncode == 1, ran.stderr
    (again,) = _json(ran)
    # only the 5 rejected rows were retried, and rejected again: partial (not failed), warning
    assert again["status"] == "partial" and again["warning"] is True and again["counts"]["rejected"] == 5
    assert again["reason"] == "all 5 rows sent were rejected with INVALID_EMAIL_ADDRESS"
    allowed = run_cli(project, "run", "contacts", "--allow-rejected", "--json")
    assert allowed.returncode == 0, allowed.stderr
    assert _json(allowed)[0]["status"] == "partial"
    text = run_cli(project, "run", "contacts")
    assert text.returncode == 1 and "partial" in text.stdout and "warning:" in text.stdout


def test_1_when_every_row_sent_is_rejected(project: Path, live_emulator: Any) -> None:
    _people(project.parent, bad_every=1)
    ran = run_cli(project, "run", "contacts", "--json")
    assert ran.returncode == 1, ran.stderr
    (result,) = _json(ran)
    assert result["status"] == "failed"
    assert result["reason"] == "all 20 rows sent were rejected with INVALID_EMAIL_ADDRESS"
    assert _contacts(live_emulator) == 0
    text = run_cli(project, "show-run", str(result["run_id"]))
    assert text.returncode == 0 and "failed" in text.stdout and result["reason"] in text.stdout


def test_plan_prints_values_as_the_ui_does(project: Path) -> None:
    shown = run_cli(project, "plan", "typed")
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "Birthdate = 1990-01-02" in text and "DoNotCall = true" in text
    assert "datetime.date" not in text and "True" not in text and "'Last 0'" not in text
    samples = _json(run_cli(project, "plan", "typed", "--json"))["samples"]
    assert samples[0]["fields"]["Birthdate"] == "1990-01-02" and samples[0]["fields"]["DoNotCall"] is True


def test_1_when_the_source_breaks_and_the_sync_pauses(project: Path) -> None:
    with duckdb.connect(str(project.parent / "wh.duckdb")) as con:
        con.execute("drop table people")
    error = _error(run_cli(project, "plan", "contacts", "--json"), 1, "SourceError")
    assert error["source"] == "wh" and "people" in error["message"]
    ran = run_cli(project, "run", "contacts", "--json")
    assert ran.returncode == 1, ran.stderr
    (result,) = _json(ran)
    assert result["status"] == "failed" and result["run_id"] is not None
    assert "people" in result["error"] and "people" in result["reason"]
    assert result["paused"].startswith("the source or model cannot be read")


def test_1_when_another_process_runs_the_sync(project: Path, live_emulator: Any) -> None:
    store = StateStore.open(project.parent / ".sfsync")
    try:
        with store.lock("contacts"):
            ran = run_cli(project, "run", "contacts", "--json")
    finally:
        store.close()
    assert ran.returncode == 1, ran.stderr
    (result,) = _json(ran)
    assert result["status"] == "busy" and "contacts" in result["error"] and result["run_id"] is None
    assert _contacts(live_emulator) == 0


def test_2_for_configuration_errors_and_not_found(project: Path, live_emulator: Any) -> None:
    error = _error(run_cli(project, "show-run", "999", "--json"), 2, "NotFoundError")
    assert (error["what"], error["name"]) == ("run", "999") and "sfsync runs" in error["hint"]
    plain = run_cli(project, "show-run", "999")
    assert plain.returncode == 2 and "run 999 does not exist" in plain.stderr and not plain.stdout

    error = _error(run_cli(project, "run", "nope", "--json"), 2, "ConfigError")
    assert "no sync named nope" in error["message"]
    error = _error(run_cli(project, "runs", "nope", "--json"), 2, "NotFoundError")
    assert error["what"] == "sync"

    project.write_text(project.read_text().replace("email: Email}\n  leads", "email: Emial}\n  leads"))
    error = _error(run_cli(project, "run", "contacts", "--json"), 2, "ConfigError")
    assert "nothing was written" in error["message"]
    assert any("Emial" in p for p in error["problems"]) and error["file"].endswith("sfsync.yml")
    assert _contacts(live_emulator) == 0

    (project.parent / "sfsync.yml").write_text("version: 1\nsyncs: [\n")
    error = _error(run_cli(project, "check", "--json"), 2, "ProjectFileError")
    assert "sfsync.yml" in error["message"]


def test_2_for_usage_errors(project: Path) -> None:
    error = _error(run_cli(project, "show-run", "abc", "--json"), 2, "UsageError")
    assert "run_id" in error["message"]
    _error(run_cli(project, "run", "contacts", "--no-such-option", "--json"), 2, "UsageError")
    _error(run_cli(project, "plan", "contacts", "--api", "soap", "--json"), 2, "ConfigError")
    plain = run_cli(project, "show-run", "abc")
    assert plain.returncode == 2 and "Invalid value" in plain.stderr and not plain.stdout


def test_2_when_salesforce_refuses_the_login(project: Path) -> None:
    (project.parent / ".env").write_text("SF_SECRET=sfsync-demo-secret\nSF_PASSWORD=wrong-password\n")
    error = _error(run_cli(project, "run", "contacts", "--json"), 2, "AuthError")
    assert "wrong-password" not in json.dumps(error)  # never a secret
    error = _error(run_cli(project, "describe", "Contact", "--json"), 2, "AuthError")


def test_a_full_resync_of_an_insert_sync_needs_confirmation(project: Path, live_emulator: Any) -> None:
    assert run_cli(project, "run", "leads").returncode == 0
    leads = int(live_emulator.org.query("SELECT COUNT() FROM Lead").total_size)
    assert leads == 20
    planned = _json(run_cli(project, "plan", "leads", "--full-resync", "--json"))
    assert planned["creates"] == 20 and planned["full_resync"] is True
    assert "creates 20 new Lead record(s)" in planned["warning"]
    shown = run_cli(project, "plan", "leads", "--full-resync")
    assert "creates 20 new Lead record(s)" in shown.stdout
    # no terminal to ask on, no --yes: refused, nothing created
    error = _error(run_cli(project, "run", "leads", "--full-resync", "--json"), 2, "ConfigError")
    assert "every one of its 20 rows" in error["message"] and "--yes" in error["hint"]
    assert int(live_emulator.org.query("SELECT COUNT() FROM Lead").total_size) == 20
    ran = run_cli(project, "run", "leads", "--full-resync", "--yes", "--json")
    assert ran.returncode == 0, ran.stderr
    assert int(live_emulator.org.query("SELECT COUNT() FROM Lead").total_size) == 40
    # an upsert sync's full resync creates nothing new: no confirmation needed
    assert run_cli(project, "run", "contacts", "--full-resync", "--json").returncode == 0


def test_130_and_an_interrupted_run_when_stopped_by_ctrl_c(project: Path, live_emulator: Any) -> None:
    live_emulator.set_faults(bulk_delay_seconds=60)
    proc = _sfsync_in_terminal(project, "run", "contacts", "--api", "bulk", "--json")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until a Bulk job is in flight
            if _job_started(project):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=50)  # well before the job's 60 s delay ends
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert json.loads(out)["error"]["type"] == "Interrupted", (out, err)
    history = _json(run_cli(project, "runs", "--json"))
    assert history["runs"][0]["status"] == "interrupted"


def test_130_within_seconds_when_stopped_by_ctrl_c_while_an_endless_model_is_read(
    project: Path, live_emulator: Any
) -> None:
    """DuckDB cancels a query by waiting for its tasks, and the one reading the model into the diff ended
    only with the model: Ctrl-C then waited for the whole read (for ever here, the model never ends)."""
    with duckdb.connect(str(project.parent / "wh.duckdb")) as con:
        con.execute("alter table people rename to people_rows")
        con.execute(
            "create view people as select 'p' || i as id, 'Last ' || i as last, 'u' || i || '@example.com'"
            " as email from range(100000000000) t(i)"
        )
    proc = _sfsync_in_terminal(project, "run", "contacts", "--json")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _running(project):  # the run began reading the model
            time.sleep(0.1)
        time.sleep(1.0)  # well into the read
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert json.loads(out)["error"]["type"] == "Interrupted", (out, err)
    assert "Traceback" not in err, err
    store = StateStore.open(project.parent / ".sfsync")
    try:
        run = store.last_run("contacts")
        assert run is not None and run.status == "interrupted"
        assert not any((project.parent / ".sfsync" / "work").rglob("*.parquet"))  # no diff left behind
    finally:
        store.close()
    assert _contacts(live_emulator) == 0
    with duckdb.connect(str(project.parent / "wh.duckdb")) as con:  # the model is whole again
        con.execute("drop view people")
        con.execute("alter table people_rows rename to people")
    assert run_cli(project, "run", "contacts", "--json").returncode == 0
    assert _contacts(live_emulator) == 20


def _sfsync_in_terminal(project: Path, *args: str) -> subprocess.Popen[str]:
    """``python -m sfsync ARGS`` as a terminal starts it: SIGINT with its default disposition (a suite
    started in the background ignores SIGINT, and children inherit that)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    return subprocess.Popen(
        [sys.executable, "-m", "sfsync", *args, "--project", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=project.parent,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _running(project: Path) -> bool:
    store = StateStore.open(project.parent / ".sfsync")
    try:
        run = store.last_run("contacts")
        return run is not None and run.status == "running"
    finally:
        store.close()


def _job_started(project: Path) -> bool:
    store = StateStore.open(project.parent / ".sfsync")
    try:
        return bool(store.journal_pending("contacts"))
    finally:
        store.close()


def test_version_and_scheduler_help_show_what_they_should(project: Path) -> None:
    from sfsync import __version__

    version = subprocess.run(
        [sys.executable, "-m", "sfsync", "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0 and version.stdout.strip() == f"sfsync {__version__}"
    shown = run_cli(project, "scheduler", "--help")
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    for default in ("[default: 4]", "[default: 30.0]", "[default: 300.0]", "[default: info]"):
        assert default in text, default
