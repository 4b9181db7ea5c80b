"""The operator's view over HTTP: run statuses and reasons, live progress of a run started elsewhere, the
history charts, the row debugger, and the full resync confirmation (JSON API and pages)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from sfsync.api import Project
from sfsync.state import Trigger
from tests.plugins.emulator import InProcessEmulator
from tests.schedule.helpers import receiving
from tests.web.conftest import TOKEN
from tests.web.test_api import wait_job

REASON = "50% of rows rejected (2 of 4), mostly INVALID_EMAIL_ADDRESS"


def _run(api: httpx.Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    job = api.post("/api/syncs/contacts/run", json=body)
    assert job.status_code == 202, job.text
    done = wait_job(api, job.json()["id"])
    assert done["state"] == "done", done
    return done


def test_a_run_with_rejected_rows_is_partial_with_the_same_reason_everywhere(api: httpx.Client) -> None:
    done = _run(api)
    result = done["result"]
    assert (result["status"], result["warning"], result["reason"]) == ("partial", True, REASON)
    run_id = done["run_id"]
    [summary] = api.get("/api/syncs").json()
    assert (summary["state"], summary["reason"]) == ("warning", REASON)
    assert summary["last_run"]["status"] == "partial" and summary["last_run"]["reason"] == REASON
    [listed] = api.get("/api/syncs/contacts/runs").json()
    assert (listed["status"], listed["warning"], listed["reason"]) == ("partial", True, REASON)
    assert api.get(f"/api/runs/{run_id}").json()["reason"] == REASON
    for path in ("/syncs", "/syncs/contacts", f"/runs/{run_id}", f"/jobs/{done['id']}"):
        html = api.get(path).text
        assert REASON in html and "partial" in html, path


def test_the_history_chart_and_the_trend_draw_every_run(api: httpx.Client, project_file: Path) -> None:
    _run(api)  # 2 created, 2 rejected
    with duckdb.connect(str(project_file.parent / "wh.duckdb")) as con:
        con.execute("update people set email = 'grace@example.com' where id = 'p3'")
    _run(api)  # p3 fixed and created, p4 rejected again
    page = api.get("/syncs/contacts").text
    chart = re.search(r'<svg[^>]*data-test="history-chart"[^>]*>.*?</svg>', page, re.S)
    assert chart is not None and 'data-runs="2"' in chart.group(0)
    bars = re.findall(r'<a href="/runs/(\d+)" data-run="\d+" data-status="(\w+)">', chart.group(0))
    assert bars == [("1", "partial"), ("2", "partial")]
    heights = {
        (kind, int(run)): float(h)
        for run, body in re.findall(r'data-run="(\d+)"[^>]*>(.*?)</a>', chart.group(0), re.S)
        for kind, h in re.findall(r'<rect class="(\w+)" [^>]*height="([\d.]+)"', body)
    }
    # run 1: 2 created and 2 rejected; run 2: 1 created and 1 rejected: half as high
    assert heights[("created", 1)] == pytest.approx(heights[("rejected", 1)])
    assert heights[("created", 1)] == pytest.approx(2 * heights[("created", 2)])
    assert "run 1 (partial" in chart.group(0) and "2 created, 0 updated, 2 rejected" in chart.group(0)
    listing = api.get("/syncs").text
    assert 'data-test="sparkline" data-runs="2"' in listing
    image = api.get("/syncs/contacts/history.svg")
    assert image.headers["content-type"].startswith("image/svg+xml")
    assert image.text.startswith('<svg xmlns="http://www.w3.org/2000/svg"')


def test_the_row_debugger_searches_across_runs_and_tells_one_rows_story(
    api: httpx.Client, project_file: Path, emulator: InProcessEmulator
) -> None:
    _run(api)
    with duckdb.connect(str(project_file.parent / "wh.duckdb")) as con:
        con.execute("update people set email = 'grace@example.com' where id = 'p3'")
    _run(api)
    rejected = api.get("/api/syncs/contacts/rows", params={"outcome": "rejected"}).json()
    assert rejected["total"] == 3 and {r["primary_key"] for r in rejected["rows"]} == {"p3", "p4"}
    by_key = api.get("/api/syncs/contacts/rows", params={"sort": "key", "order": "asc", "limit": 2}).json()
    assert by_key["total"] == 6 and [r["primary_key"] for r in by_key["rows"]] == ["p1", "p2"]
    assert api.get("/api/syncs/contacts/rows", params={"q": "TOO_LONG"}).json()["total"] == 2
    assert api.get("/api/syncs/contacts/rows", params={"sort": "size"}).status_code == 422

    story = api.get("/api/syncs/contacts/rows/p3").json()
    created, refused = story["runs"]
    assert (created["run_id"], created["operation"], created["success"]) == (2, "created", True)
    record = next(iter(emulator.org.query("SELECT Id FROM Contact WHERE External_Id__c = 'p3'").records))
    assert created["record_id"] == record["Id"]
    assert created["record_url"] == f"{emulator.base_url}/lightning/r/Contact/{record['Id']}/view"
    assert {v["field"]: v["value"] for v in created["values"]}["Email"] == "grace@example.com"
    assert (refused["error_code"], refused["fields"]) == ("INVALID_EMAIL_ADDRESS", ["Email"])
    assert {v["field"]: v["value"] for v in refused["values"]}["Email"] == "not-an-email"
    assert api.get("/api/syncs/contacts/rows/p404").status_code == 404

    html = api.get("/syncs/contacts/rows", params={"q": "p3"}).text
    assert "2 row results" in html and "/syncs/contacts/rows/p3" in html
    row = api.get("/syncs/contacts/rows/p3").text
    assert record["Id"] in row and "not-an-email" in row and "INVALID_EMAIL_ADDRESS" in row
    sorted_page = api.get("/syncs/contacts/rows", params={"sort": "code", "order": "asc"}).text
    assert 'href="/syncs/contacts/rows?outcome=all&amp;sort=code&amp;order=desc' in sorted_page


def test_a_full_resync_of_an_insert_sync_needs_confirmation(
    api: httpx.Client, project_file: Path, emulator: InProcessEmulator
) -> None:
    leads: dict[str, Any] = {"from": "people", "to": "org", "object": "Lead", "mode": "insert"}
    leads["mappings"] = {"first": "LastName", "id": "Company"}
    assert api.post("/api/syncs/leads", json=leads).status_code == 201
    assert wait_job(api, api.post("/api/syncs/leads/run").json()["id"])["state"] == "done"
    assert emulator.org.query("SELECT COUNT() FROM Lead").total_size == 4

    plan = wait_job(api, api.post("/api/syncs/leads/plan", json={"full_resync": True}).json()["id"])
    assert plan["result"]["creates"] == 4 and "creates 4 new Lead record(s)" in plan["result"]["warning"]
    refused = api.post("/api/syncs/leads/run", json={"full_resync": True})
    assert refused.status_code == 400 and "every one of its 4 rows" in refused.json()["detail"]
    assert emulator.org.query("SELECT COUNT() FROM Lead").total_size == 4

    page = api.get("/syncs/leads/full-resync").text
    assert "every one of its 4 rows" in page and 'name="confirm"' in page
    unconfirmed = api.post("/syncs/leads/run", data={"full_resync": "1"})
    assert unconfirmed.status_code == 400
    confirmed = api.post("/syncs/leads/run", data={"full_resync": "1", "confirm": "1"})
    assert confirmed.status_code == 200 and "/jobs/" in str(confirmed.url)
    job_id = str(confirmed.url).rsplit("/", 1)[1]
    assert wait_job(api, job_id)["state"] == "done"
    assert emulator.org.query("SELECT COUNT() FROM Lead").total_size == 8
    # an upsert sync's full resync creates nothing twice: no confirmation asked
    assert "nothing is duplicated" in api.get("/syncs/contacts/full-resync").text
    assert _run(api, {"full_resync": True})["result"]["status"] == "partial"


def test_the_sync_page_shows_a_run_started_elsewhere_live(
    api: httpx.Client, project_file: Path, emulator: InProcessEmulator
) -> None:
    """A run started by another process (here another facade, as the CLI or the scheduler would) shows
    its phase, rows and Bulk jobs on the sync page; the panel reloads the page once the run ends."""
    emulator.set_faults(bulk_delay_seconds=3)
    config = api.get("/api/syncs/contacts").json()["config"]
    config["api"] = "bulk"
    assert api.put("/api/syncs/contacts", json=config).status_code == 200
    other = Project.load(project_file, transport=emulator.transport)
    thread = threading.Thread(target=lambda: other.attempt("contacts", trigger=Trigger.MANUAL))
    thread.start()
    try:
        seen: dict[str, str] = {}
        deadline = time.monotonic() + 30
        job_state = re.compile(r'data-test="job-state-1">(InProgress|UploadComplete)<')
        # the job shows Open until the progress event after its close arrives: poll until it shows
        while time.monotonic() < deadline and not job_state.search(seen.get("collecting", "")):
            live = api.get("/syncs/contacts/live").text
            phase = re.search(r'data-phase="(\w+)"', live)
            if phase:
                seen[phase.group(1)] = live
            time.sleep(0.05)
        assert "collecting" in seen, list(seen)
        panel = seen["collecting"]
        assert 'data-state="running"' in panel and 'data-test="bulk-jobs"' in panel
        assert job_state.search(panel), panel
        assert '<span data-test="to-send">4</span>' in panel
        summary = api.get("/api/syncs/contacts").json()
        assert summary["state"] == "running" and summary["running_run"]["progress"]["phase"] == "collecting"
        run_id = summary["running_run"]["id"]
    finally:
        thread.join(timeout=60)
        other.close()
    ended = api.get("/syncs/contacts/live", params={"was": run_id})
    assert ended.headers.get("HX-Refresh") == "true" and 'data-state="warning"' in ended.text


def test_a_ui_run_that_has_ended_shows_its_outcome_while_its_notice_is_still_being_sent(
    api: httpx.Client, project_file: Path
) -> None:
    """The run started from the UI has ended (partial, a warning) but its job still sends the warning's
    notice: the sync shows the run's state, not "running ... waiting for its lock"."""
    with receiving() as receiver:
        text = project_file.read_text()
        ops = "  ops: {type: email, to: [ops@example.com], smtp: {host: localhost, port: 25}}"
        assert ops in text
        text = text.replace(ops, f'  ops: {{type: webhook, url: "{receiver.url}/hook"}}')
        project_file.write_text(text.replace("    schedule:", "    warnings: {notify: [ops]}\n    schedule:"))
        receiver.held.clear()
        try:
            job = api.post("/api/syncs/contacts/run").json()
            deadline = time.monotonic() + 30
            while not receiver.posts("/hook") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert receiver.posts("/hook"), "the warning's notice never left"
            assert api.get(f"/api/jobs/{job['id']}").json()["state"] == "running"
            summary = api.get("/api/syncs/contacts").json()
            assert (summary["state"], summary["reason"]) == ("warning", REASON)
            live = api.get("/syncs/contacts/live", params={"was": job["run_id"] or 1})
            assert 'data-state="warning"' in live.text and live.headers.get("HX-Refresh") == "true"
        finally:
            receiver.held.set()
        assert wait_job(api, job["id"])["state"] == "done"


def test_the_json_api_answers_errors_as_json(ui_app: httpx.Client) -> None:
    ui_app.headers["Authorization"] = f"Bearer {TOKEN}"
    missing = ui_app.get("/api/syncs/contacts/rows/p1")
    assert missing.status_code == 404 and "no run of sync" in missing.json()["detail"]
