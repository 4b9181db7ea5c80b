"""Server-rendered pages through the HTTP client: every page renders, the sync form saves or refuses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from sfsync.config import load_project
from sfsync.web import UiSettings, create_app
from tests.plugins.emulator import InProcessEmulator
from tests.web.conftest import app_client


@pytest.fixture
def browser_session(project_file: Path, emulator: InProcessEmulator) -> Iterator[httpx.Client]:
    """No token: loopback mode, every visitor is logged in (forms still need the CSRF token)."""
    app = create_app(UiSettings(project_file=project_file, transport=emulator.transport))
    with app_client(app) as client:
        yield client


def csrf_of(html: str) -> str:
    return html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]


def form_for(client: httpx.Client, **values: str | list[str]) -> dict[str, str | list[str]]:
    base: dict[str, str | list[str]] = {
        "csrf_token": csrf_of(client.get("/new-sync").text),
        "create": "1",
        "name": "leads",
        "from": "people",
        "to": "org",
        "object": "Lead",
        "mode": "upsert",
        "oid_column": "id",
        "oid_field": "External_Id__c",
        "map_column": ["last", "email", ""],
        "map_field": ["LastName", "Company", ""],
        "api": "auto",
        "schedule_kind": "every",
        "schedule_value": "1h",
        "on_failure": "on",
        "rejected_rows_percent": "5",
    }
    base.update(values)
    return base


def test_every_page_renders(browser_session: httpx.Client) -> None:
    c = browser_session
    for path, expect in [
        ("/syncs", "contacts"),
        ("/syncs/contacts", "Run history"),
        ("/syncs/contacts/edit", "External_Id__c"),
        ("/new-sync", "Create sync"),
        ("/models", "gmail_people"),
        ("/models/people", "Lovelace"),
        ("/destinations", "Test connection"),
        ("/destinations/org/objects", "Contact"),
        ("/destinations/org/objects/Contact", "External_Id__c"),
    ]:
        response = c.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert expect in response.text, path
        assert "sfsync-demo-secret" not in response.text and "sfsync-demo<" not in response.text
    assert c.get("/syncs/nope").status_code == 404
    assert "not found" in c.get("/runs/12345").text.lower()
    assert c.get("/static/htmx.min.js").status_code == 200


def test_a_token_less_ui_answers_only_to_loopback_names(browser_session: httpx.Client) -> None:
    assert browser_session.get("/syncs", headers={"host": "localhost:8700"}).status_code == 200
    rebound = browser_session.get("/api/syncs", headers={"host": "evil.example:8700"})
    assert rebound.status_code == 421 and "evil.example" in rebound.json()["detail"]


def test_connection_test_fragment(browser_session: httpx.Client) -> None:
    c = browser_session
    token = csrf_of(c.get("/destinations").text)
    fragment = c.post("/destinations/org/test", headers={"X-CSRF-Token": token})
    assert 'data-test="connection-ok"' in fragment.text


def test_form_refresh_shows_object_id_candidates_and_type_checks(browser_session: httpx.Client) -> None:
    c = browser_session
    data = form_for(c, map_column=["age", "last", ""], map_field=["Email", "LastName", ""])
    html = c.post("/sync-form", data=data).text
    oid = html.split('name="oid_field"', 1)[1].split("</select>", 1)[0]
    assert "External_Id__c" in oid and "Id (Id" in oid
    assert "FirstName" not in oid and "Company" not in oid  # only Id / external id / id lookup fields
    assert "integer cannot feed email" in html
    assert "text → string" in html


def test_form_saves_a_valid_sync(browser_session: httpx.Client, project_file: Path) -> None:
    c = browser_session
    response = c.post("/new-sync", data=form_for(c), follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/syncs/leads?saved=1"
    sync = load_project(project_file).syncs["leads"]
    assert sync.mappings == {"last": "LastName", "email": "Company"}
    assert sync.schedule.model_dump() == {"every": "1h"}
    assert sync.warnings.rejected_rows_percent == 5
    assert "# keep this comment" in project_file.read_text()


def test_form_refuses_an_incompatible_mapping_with_reasons(
    browser_session: httpx.Client, project_file: Path
) -> None:
    c = browser_session
    before = project_file.read_text()
    data = form_for(c, map_column=["age", "last", ""], map_field=["Email", "LastName", ""])
    response = c.post("/new-sync", data=data)
    assert response.status_code == 422
    assert "Not saved" in response.text and "cannot feed field type email" in response.text
    half = form_for(c, map_column=["last", "email", ""], map_field=["LastName", "", ""], schedule_value="")
    response = c.post("/new-sync", data=half)
    assert response.status_code == 422
    assert (
        "needs both a column and a field" in response.text and "schedule every needs a value" in response.text
    )
    assert project_file.read_text() == before


def test_edit_form_saves_in_place(browser_session: httpx.Client, project_file: Path) -> None:
    c = browser_session
    data = form_for(
        c,
        name="contacts",
        create="0",
        object="Contact",
        map_column=["first", "last", ""],
        map_field=["FirstName", "LastName", ""],
    )
    response = c.post("/syncs/contacts/edit", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert load_project(project_file).syncs["contacts"].mappings == {"first": "FirstName", "last": "LastName"}
    assert "# people become contacts" in project_file.read_text()


def test_edit_form_keeps_and_saves_the_org_automation_settings(
    browser_session: httpx.Client, project_file: Path
) -> None:
    c = browser_session
    data = form_for(c, assignment_rules="default", duplicate_rules="allow_save")
    response = c.post("/new-sync", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    sync = load_project(project_file).syncs["leads"]
    assert (sync.assignment_rules, sync.duplicate_rules) == ("default", "allow_save")
    page = c.get("/syncs/leads/edit").text
    assert 'value="default"' in page and "<option selected>allow_save</option>" in page
    bad = form_for(c, name="contacts", create="0", object="Contact", assignment_rules="default")
    refused = c.post("/syncs/contacts/edit", data=bad)
    assert refused.status_code == 422 and "Contact has no assignment rules" in refused.text


def test_run_now_job_page_and_run_page(browser_session: httpx.Client) -> None:
    c = browser_session
    token = csrf_of(c.get("/syncs/contacts").text)
    started = c.post("/syncs/contacts/run", data={"csrf_token": token}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"].startswith("/jobs/")
    job_path = started.headers["location"]
    deadline = time.monotonic() + 60
    while 'data-state="done"' not in (status := c.get(job_path + "/status").text):
        assert 'data-state="failed"' not in status, status
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run_path = status.split('href="/runs/', 1)[1].split('"', 1)[0]
    run = c.get(f"/runs/{run_path}").text
    assert "INVALID_EMAIL_ADDRESS (1)" in run and "STRING_TOO_LONG (1)" in run
    only = c.get(f"/runs/{run_path}?code=STRING_TOO_LONG").text
    table = only.split('id="rejected"', 1)[1]
    assert "p4" in table and "p3" not in table
    history = c.get("/syncs/contacts").text
    assert f'href="/runs/{run_path}"' in history


def test_form_offers_lookups_and_fixed_values_and_saves_them(
    browser_session: httpx.Client, project_file: Path
) -> None:
    c = browser_session
    data = form_for(c, name="related", object="Contact", map_column=["last", "email", ""])
    html = c.post("/sync-form", data=data).text
    field_select = html.split('name="map_field"', 1)[1].split("</select>", 1)[0]
    # lookups from describe's relationships: each parent's External ID / idLookup fields; owners
    assert 'value="Account.External_Id__c"' in field_select and 'value="ReportsTo.Email"' in field_select
    assert "{owner: email}" in field_select and "{owner: queue}" not in field_select  # User only
    assert 'data-test="constants"' in html
    data = form_for(
        c,
        name="related",
        object="Contact",
        map_column=["last", "email", ""],
        map_field=["LastName", "ReportsTo.Email", ""],
        const_field=["LeadSource", "Birthdate", ""],
        const_value=["Web", "2000-01-31", ""],
    )
    assert "text → ReportsTo.Email" in c.post("/sync-form", data=data).text
    response = c.post("/new-sync", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    sync = load_project(project_file).syncs["related"]
    assert sync.model_dump(by_alias=True)["mappings"] == {
        "last": "LastName",
        "email": "ReportsTo.Email",
        "LeadSource": {"value": "Web"},
        "Birthdate": {"value": __import__("datetime").date(2000, 1, 31)},
    }
    page = c.get("/syncs/related").text
    assert "email → ReportsTo.Email (lookup)" in page and "LeadSource = &#39;Web&#39; (constant)" in page
    edit = c.get("/syncs/related/edit").text
    assert 'value="2000-01-31"' in edit and 'name="const_value" value="Web"' in edit


def test_form_saves_and_shows_on_row_removed(browser_session: httpx.Client, project_file: Path) -> None:
    c = browser_session
    data = form_for(
        c,
        on_row_removed="{action: set, values: {DoNotCall: true}, max_percent: 5}",
        object="Contact",
        map_field=["LastName", "Email", ""],
    )
    response = c.post("/new-sync", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    setting = load_project(project_file).syncs["leads"].on_row_removed
    assert (setting.action, setting.values, setting.max_percent) == ("set", {"DoNotCall": True}, 5)
    page = c.get("/syncs/leads/edit").text
    assert "DoNotCall" in page and "max_percent" in page
    # saving the form again keeps it; an insert sync is refused with the project file's reason
    again = c.post(
        "/syncs/leads/edit",
        data=form_for(
            c, create="0", object="Contact", map_field=["LastName", "Email", ""], on_row_removed="delete"
        ),
    )
    assert (
        again.status_code in (200, 303)
        and load_project(project_file).syncs["leads"].on_row_removed.action == "delete"
    )
    refused = c.post(
        "/syncs/leads/edit", data=form_for(c, create="0", mode="insert", on_row_removed="delete")
    )
    assert refused.status_code == 422 and "needs an update or upsert sync" in refused.text


def test_plan_and_run_pages_show_rows_that_leave(project_file: Path, emulator: InProcessEmulator) -> None:
    project_file.write_text(
        project_file.read_text().replace(
            "    schedule: {every: 15m}\n",
            "    schedule: {every: 15m}\n    on_row_removed: {action: delete, max_percent: 50}\n",
        )
    )
    app = create_app(UiSettings(project_file=project_file, transport=emulator.transport))
    with app_client(app) as c:
        first = _finish(
            c, c.post("/syncs/contacts/run", data={"csrf_token": csrf_of(c.get("/syncs/contacts").text)})
        )
        assert "created" in first
        with duckdb.connect(str(project_file.parent / "wh.duckdb")) as con:
            con.execute("DELETE FROM people WHERE id = 'p1'")
        planned = _finish(
            c, c.post("/syncs/contacts/plan", data={"csrf_token": csrf_of(c.get("/syncs/contacts").text)})
        )
        assert 'data-test="plan-removals"' in planned and "1 of 2 rows left the model" in planned, planned
        ran = _finish(
            c, c.post("/syncs/contacts/run", data={"csrf_token": csrf_of(c.get("/syncs/contacts").text)})
        )
        assert "1 removed (rows that left)" in ran, ran
        run_path = ran.split('href="/runs/', 1)[1].split('"', 1)[0]
        assert 'data-test="removed-count">1<' in c.get(f"/runs/{run_path}").text
    assert emulator.org.query("SELECT COUNT() FROM Contact").total_size == 1


def _finish(c: httpx.Client, started: httpx.Response) -> str:
    """Follow a job's page until it is done; its status HTML."""
    job_path = str(started.url.path)
    assert job_path.startswith("/jobs/"), started.text
    deadline = time.monotonic() + 60
    while 'data-state="done"' not in (status := c.get(job_path + "/status").text):
        assert 'data-state="failed"' not in status, status
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return status
