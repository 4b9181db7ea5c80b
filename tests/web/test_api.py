"""The JSON API: every endpoint, refused invalid input, and unauthenticated access."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sfsync.config import load_project
from sfsync.state import StateStore, default_state_dir
from tests.web.conftest import TOKEN

NEW_SYNC = {
    "from": "people",
    "to": "org",
    "object": "Lead",
    "mode": "upsert",
    "object_id": {"column": "id", "field": "External_Id__c"},
    "mappings": {"last": "LastName", "email": "Company"},
    "schedule": {"daily": "07:00"},
    "warnings": {"rejected_rows_percent": 10, "notify": ["ops"]},
}


def wait_job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = api.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_destinations_objects_and_fields(api: httpx.Client) -> None:
    dests = api.get("/api/destinations").json()
    assert dests == [
        {
            "name": "org",
            "type": "salesforce",
            "login_url": "https://emulator.test",
            "instance_url": None,
            "auth_flow": "password",
            "username": "admin@example.com",
            "api_version": "62.0",
        }
    ]
    test = api.post("/api/destinations/org/test").json()
    assert test["ok"] is True and test["objects"] >= 5
    names = [o["name"] for o in api.get("/api/destinations/org/objects").json()]
    assert {"Account", "Contact", "Lead", "Case", "Contract"} <= set(names)
    fields = {f["name"]: f for f in api.get("/api/destinations/org/objects/Contact").json()["fields"]}
    assert fields["External_Id__c"]["external_id"] is True
    assert fields["LastName"]["required_on_create"] is True
    assert api.get("/api/destinations/nope/objects").status_code == 404


def test_connection_test_reports_a_failed_login(api: httpx.Client, project_file: Path) -> None:
    (project_file.parent / ".env").write_text("SF_SECRET=sfsync-demo-secret\nSF_PASSWORD=wrong\n")
    test = api.post("/api/destinations/org/test").json()
    assert test["ok"] is False
    assert test["error"] and "wrong" not in test["error"]


def test_models_preview_and_count(api: httpx.Client) -> None:
    models = {m["name"]: m for m in api.get("/api/models").json()}
    assert models["people"]["kind"] == "model" and models["people"]["model_kind"] == "user"
    assert models["gmail_people"] == {
        "name": "gmail_people",
        "kind": "segment",
        "model_kind": "user",
        "source": "wh",
        "primary_key": "id",
        "model": "people",
        "where": "email like '%@gmail.com'",
        "sql": None,
        "table": None,
        "dbt_model": None,
    }
    preview = api.get("/api/models/people/preview", params={"rows": 2}).json()
    assert preview["row_count"] == 4
    assert [c["name"] for c in preview["columns"]] == ["id", "first", "last", "email", "age"]
    assert {c["name"]: c["type"] for c in preview["columns"]}["age"] == "integer"
    assert len(preview["rows"]) == 2
    seg = api.get("/api/models/gmail_people/preview").json()
    assert seg["row_count"] == 1 and seg["rows"][0][0] == "p2"
    assert api.get("/api/models/nope/preview").status_code == 404
    assert api.get("/api/models/people/preview", params={"rows": 0}).status_code == 422


def test_sync_list_and_detail_never_show_secrets(api: httpx.Client) -> None:
    syncs = api.get("/api/syncs").json()
    assert [s["name"] for s in syncs] == ["contacts"]
    s = syncs[0]
    assert (s["from"], s["object"], s["mode"], s["state"], s["schedule"]) == (
        "people",
        "Contact",
        "upsert",
        "never run",
        "every 15m",
    )
    assert s["last_run"] is None
    next_run = datetime.fromisoformat(s["next_run"])
    assert next_run > datetime.now(UTC) and next_run.minute % 15 == 0 and next_run.second == 0
    detail = api.get("/api/syncs/contacts")
    assert detail.json()["config"]["object_id"] == {"column": "id", "field": "External_Id__c"}
    for path in ("/api/syncs", "/api/syncs/contacts", "/api/destinations", "/openapi.json"):
        assert "sfsync-demo-secret" not in api.get(path).text
    assert api.get("/api/syncs/nope").status_code == 404
    assert api.get("/api/syncs/bad name!").status_code == 422


def test_run_history_rejected_rows_and_csv(api: httpx.Client) -> None:
    config = api.get("/api/syncs/contacts").json()["config"]
    config["warnings"] = {"rejected_rows_percent": 10}
    assert api.put("/api/syncs/contacts", json=config).status_code == 200
    job = api.post("/api/syncs/contacts/run")
    assert job.status_code == 202
    done = wait_job(api, job.json()["id"])
    assert done["state"] == "done", done
    run_id = done["run_id"]
    counts = done["result"]["counts"]
    assert (counts["created"], counts["rejected"]) == (2, 2)

    runs = api.get("/api/syncs/contacts/runs").json()
    assert runs[0]["id"] == run_id and runs[0]["trigger"] == "api"
    assert runs[0]["api_calls"] > 0 and runs[0]["duration_s"] is not None
    summary = api.get("/api/syncs").json()[0]
    assert summary["state"] == "warning" and summary["last_run"]["id"] == run_id
    assert summary["warnings_firing"] == ["rejected_rows_percent"]  # evaluated as after a scheduled run

    run = api.get(f"/api/runs/{run_id}").json()
    assert run["rejected_by_code"] == {"INVALID_EMAIL_ADDRESS": 1, "STRING_TOO_LONG": 1}
    assert {r["primary_key"] for r in run["rejected_rows"]} == {"p3", "p4"}
    only = api.get(f"/api/runs/{run_id}", params={"code": "STRING_TOO_LONG"}).json()
    assert [r["primary_key"] for r in only["rejected_rows"]] == ["p4"]
    assert "LastName" in only["rejected_rows"][0]["message"] or only["rejected_rows"][0]["fields"]

    response = api.get(f"/api/runs/{run_id}/rejected.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted((r["primary_key"], r["error_code"]) for r in rows) == [
        ("p3", "INVALID_EMAIL_ADDRESS"),
        ("p4", "STRING_TOO_LONG"),
    ]
    filtered = api.get(f"/api/runs/{run_id}/rejected.csv", params={"code": "INVALID_EMAIL_ADDRESS"}).text
    assert "p3" in filtered and "p4" not in filtered
    assert api.get("/api/runs/99999").status_code == 404


def test_plan_is_a_dry_run(api: httpx.Client, emulator: Any) -> None:
    done = wait_job(api, api.post("/api/syncs/contacts/plan").json()["id"])
    assert done["state"] == "done", done
    plan = done["result"]
    assert (plan["rows_read"], plan["new"], plan["to_send"]) == (4, 4, 4)
    assert plan["estimated_api_calls"] >= 1
    assert emulator.org.count("Contact") == 0 if hasattr(emulator.org, "count") else True
    assert api.get("/api/syncs/contacts/runs").json() == []


def test_pause_refuses_runs_until_resumed(api: httpx.Client) -> None:
    paused = api.post("/api/syncs/contacts/pause", json={"cause": "maintenance"}).json()
    assert paused == {
        "sync": "contacts",
        "paused": True,
        "pause_cause": "paused by the web UI: maintenance",
    }
    summary = api.get("/api/syncs").json()[0]
    assert (summary["state"], summary["next_run"]) == ("paused", None)
    assert summary["status_text"].startswith("paused since")
    refused = api.post("/api/syncs/contacts/run")
    assert refused.status_code == 409 and "paused" in refused.json()["detail"]
    assert api.post("/api/syncs/contacts/resume").json()["paused"] is False
    assert api.get("/api/syncs").json()[0]["state"] == "never run"
    assert api.post("/api/syncs/nope/pause").status_code == 404


def test_run_now_of_a_sync_running_elsewhere_is_refused(api: httpx.Client, project_file: Path) -> None:
    with StateStore.open(default_state_dir(project_file)) as store, store.lock("contacts"):
        refused = api.post("/api/syncs/contacts/run")
        assert refused.status_code == 409 and "running already" in refused.json()["detail"]
    assert api.get("/api/syncs/contacts/runs").json() == []


def test_create_sync_writes_the_file_keeping_comments(api: httpx.Client, project_file: Path) -> None:
    before = project_file.read_text()
    created = api.post("/api/syncs/leads", json=NEW_SYNC)
    assert created.status_code == 201, created.text
    text = project_file.read_text()
    assert text.startswith(before.rstrip("\n").rsplit("# trailing comment", 1)[0].rstrip("\n"))
    for comment in ("# the embedded warehouse", "# keep this comment", "# people become contacts"):
        assert comment in text
    assert "sfsync-demo-secret" not in text and "${SF_SECRET}" in text
    project = load_project(project_file)
    assert list(project.syncs) == ["contacts", "leads"]
    leads = project.syncs["leads"]
    assert leads.object == "Lead" and leads.mappings == {"last": "LastName", "email": "Company"}
    assert leads.warnings.notify == ["ops"]
    assert api.post("/api/syncs/leads", json=NEW_SYNC).status_code == 422  # exists already


def test_replace_sync_keeps_its_place_and_comments(api: httpx.Client, project_file: Path) -> None:
    body = {
        "from": "gmail_people",
        "to": "org",
        "object": "Contact",
        "mode": "upsert",
        "object_id": {"column": "id", "field": "External_Id__c"},
        "mappings": {"last": "LastName"},
        "schedule": {"cron": "0 7 * * 1-5"},
    }
    assert api.put("/api/syncs/contacts", json=body).status_code == 200
    text = project_file.read_text()
    assert "# keep this comment" in text and "# people become contacts" in text
    assert text.index("contacts:") < text.index("# trailing comment")
    sync = load_project(project_file).syncs["contacts"]
    assert sync.from_ == "gmail_people" and sync.mappings == {"last": "LastName"}
    assert api.put("/api/syncs/nope", json=body).status_code == 422


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"mappings": {"age": "Email"}}, "cannot feed"),  # integer column → email field
        ({"mappings": {"last": "Nope__c"}}, "no field"),  # unknown field
        ({"mappings": {"missing": "LastName"}}, "not a column"),  # unknown column
        ({"object_id": {"column": "id", "field": "LastName"}}, "neither Id nor an external id"),
        ({"object": "Account", "mappings": {"last": "Name"}}, "custom model"),  # user model → Account
        ({"to": "elsewhere"}, "does not exist"),
        ({"schedule": {"every": "soon"}}, "not an interval"),
        ({"warnings": {"notify": ["pager"]}}, "does not exist"),
    ],
)
def test_invalid_syncs_are_refused_with_reasons(
    api: httpx.Client, project_file: Path, change: dict[str, Any], expected: str
) -> None:
    before = project_file.read_text()
    response = api.post("/api/syncs/broken", json={**NEW_SYNC, "object": "Contact", **change})
    assert response.status_code == 422, response.text
    body = response.json()
    assert any(expected in p["message"] for p in body["problems"]), body
    assert project_file.read_text() == before


@pytest.mark.parametrize(
    "body",
    [
        {**NEW_SYNC, "mode": "merge"},
        {**NEW_SYNC, "mappings": {}},
        {**NEW_SYNC, "surprise": 1},
        {k: v for k, v in NEW_SYNC.items() if k != "object"},
    ],
)
def test_malformed_bodies_are_refused(api: httpx.Client, project_file: Path, body: dict[str, Any]) -> None:
    before = project_file.read_text()
    assert api.post("/api/syncs/broken", json=body).status_code == 422
    assert project_file.read_text() == before


def test_openapi_schema_documents_every_endpoint(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/destinations",
        "/api/destinations/{name}/test",
        "/api/destinations/{name}/objects",
        "/api/models/{name}/preview",
        "/api/syncs",
        "/api/syncs/{name}",
        "/api/syncs/{name}/runs",
        "/api/syncs/{name}/run",
        "/api/syncs/{name}/plan",
        "/api/syncs/{name}/pause",
        "/api/syncs/{name}/resume",
        "/api/jobs/{job_id}",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/rejected.csv",
    ):
        assert path in paths, path
    assert "SyncIn" in schema["components"]["schemas"]
    assert not any(p.startswith("/syncs") for p in paths)  # pages stay out of the API schema


ENDPOINTS = [
    ("GET", "/api/destinations"),
    ("POST", "/api/destinations/org/test"),
    ("GET", "/api/destinations/org/objects"),
    ("GET", "/api/models"),
    ("GET", "/api/models/people/preview"),
    ("GET", "/api/syncs"),
    ("GET", "/api/syncs/contacts"),
    ("POST", "/api/syncs/new_one"),
    ("PUT", "/api/syncs/contacts"),
    ("GET", "/api/syncs/contacts/runs"),
    ("POST", "/api/syncs/contacts/run"),
    ("POST", "/api/syncs/contacts/plan"),
    ("POST", "/api/syncs/contacts/pause"),
    ("POST", "/api/syncs/contacts/resume"),
    ("GET", "/api/jobs/abc"),
    ("GET", "/api/runs/1"),
    ("GET", "/api/runs/1/rejected.csv"),
    ("GET", "/openapi.json"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_unauthenticated_requests_are_refused(ui_app: httpx.Client, method: str, path: str) -> None:
    response = ui_app.request(method, path, json=NEW_SYNC if method in ("POST", "PUT") else None)
    assert response.status_code == 401
    wrong = ui_app.request(method, path, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401


def csrf_of(html: str) -> str:
    return html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]


def login(client: httpx.Client, token: str = TOKEN, target: str = "/syncs") -> Any:
    form = client.get(f"/login?next={target}")
    return client.post(
        "/login",
        data={"token": token, "next": target, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )


def test_pages_redirect_to_login_and_the_token_logs_in(ui_app: httpx.Client) -> None:
    response = ui_app.get("/syncs", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/syncs"
    assert login(ui_app, "nope").status_code == 401
    assert ui_app.get("/syncs", follow_redirects=False).status_code == 303
    ok = login(ui_app)
    assert ok.status_code == 303 and ok.headers["location"] == "/syncs"
    page = ui_app.get("/syncs")
    assert page.status_code == 200 and "contacts" in page.text
    assert login(ui_app, target="//evil.example").headers["location"] == "/"
    kept = dict(ui_app.cookies)
    token = csrf_of(ui_app.get("/syncs").text)
    assert ui_app.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    ui_app.cookies.update(kept)  # a copy of the cookie is worthless after logging out
    assert ui_app.get("/syncs", follow_redirects=False).status_code == 303
    assert ui_app.post("/login", data={"token": TOKEN}).status_code == 403  # no CSRF token


def test_forms_need_the_csrf_token(ui_app: httpx.Client) -> None:
    login(ui_app)
    refused = ui_app.post("/syncs/contacts/pause", data={}, follow_redirects=False)
    assert refused.status_code == 403
    token = csrf_of(ui_app.get("/syncs/contacts").text)
    ok = ui_app.post("/syncs/contacts/pause", data={"csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303
    assert ui_app.get("/api/syncs/contacts").json()["paused"] is True
    # the API from a logged-in browser session: the CSRF header or a JSON body
    assert ui_app.post("/api/syncs/contacts/resume", headers={"X-CSRF-Token": token}).status_code == 200
    assert ui_app.post("/api/syncs/contacts/pause", json={}).status_code == 200
    plain = ui_app.post("/api/syncs/contacts/resume", content=b"", headers={"content-type": "text/plain"})
    assert plain.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/runs/abc", None, 422),
        ("GET", "/api/runs/1?limit=0", None, 422),
        ("GET", "/api/runs/1?offset=-1", None, 422),
        ("GET", "/api/runs/1/rejected.csv", None, 404),
        ("GET", "/api/syncs/contacts/runs?limit=0", None, 422),
        ("GET", "/api/jobs/NOT-HEX", None, 422),
        ("GET", "/api/jobs/abc123", None, 404),
        ("POST", "/api/syncs/contacts/pause", {"surprise": 1}, 422),
        ("POST", "/api/destinations/nope/test", None, 404),
        ("GET", "/api/destinations/nope/objects/Contact", None, 404),
        ("GET", "/api/destinations/org/objects/NoSuchObject__c", None, 400),
        ("GET", "/api/destinations/org/objects/Account%3Fx", None, 400),  # not an API name: never sent
        ("GET", "/api/destinations/org/objects/Account%2F..%2Fx", None, 404),  # no such route
        ("GET", "/api/models/people/preview?rows=5000", None, 422),
        ("PUT", "/api/syncs/bad%20name", NEW_SYNC, 422),
    ],
)
def test_invalid_requests_are_refused(
    api: httpx.Client, method: str, path: str, body: dict[str, Any] | None, status: int
) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_failed_logins_lock_the_address_out(ui_app: httpx.Client) -> None:
    """Five wrong tokens (bearer or form) and the address must wait, even with the right token."""
    for _ in range(5):
        wrong = ui_app.get("/api/syncs", headers={"Authorization": "Bearer wrong-token-guess-000000"})
        assert wrong.status_code == 401
    locked = ui_app.get("/api/syncs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    form = ui_app.get("/login")
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    refused = ui_app.post("/login", data={"token": TOKEN, "csrf_token": csrf, "next": "/"})
    assert refused.status_code == 429 and "too many failed logins" in refused.text
