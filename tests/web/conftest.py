"""Fixtures of the web UI tests: a small project (DuckDB warehouse, one Contact upsert) and the app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import httpx
import pytest
from fastapi import FastAPI

from sfsync.web import UiSettings, create_app
from tests.plugins.emulator import InProcessEmulator, InProcessTransport

TOKEN = "test-ui-token-0123456789"

PROJECT = """\
# The UI test project: comments and order must survive edits made through the UI.
version: 1
sources:
  wh: {type: duckdb, path: wh.duckdb}   # the embedded warehouse
models:
  people: {source: wh, kind: user, primary_key: id, table: people}
  companies: {source: wh, kind: custom, primary_key: company_id, table: companies}
segments:
  gmail_people: {model: people, where: "email like '%@gmail.com'"}
destinations:
  org:
    type: salesforce
    login_url: {login_url}
    auth:
      flow: password
      client_id: sfsync-demo-client
      client_secret: "${SF_SECRET}"
      username: admin@example.com
      password: "${SF_PASSWORD}"
notifications:
  ops: {type: email, to: [ops@example.com], smtp: {host: localhost, port: 25}}
syncs:
  # people become contacts, matched on the external id
  contacts:
    from: people
    to: org
    object: Contact
    mode: upsert
    object_id: {column: id, field: External_Id__c}   # keep this comment
    mappings: {first: FirstName, last: LastName, email: Email}
    schedule: {every: 15m}
# trailing comment
"""

#: People rows: two good, one bad email (INVALID_EMAIL_ADDRESS), one last name too long (STRING_TOO_LONG).
PEOPLE = [
    ("p1", "Ada", "Lovelace", "ada@example.com", 36),
    ("p2", "Alan", "Turing", "alan@gmail.com", 41),
    ("p3", "Grace", "Hopper", "not-an-email", 85),
    ("p4", "Linus", "T" * 120, "linus@example.com", 54),
]


def write_project(directory: Path, login_url: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(directory / "wh.duckdb"))
    con.execute("create table people (id varchar, first varchar, last varchar, email varchar, age integer)")
    con.executemany("insert into people values (?, ?, ?, ?, ?)", PEOPLE)
    con.execute("create table companies (company_id varchar, name varchar)")
    con.execute("insert into companies values ('c1', 'Acme')")
    con.close()
    (directory / ".env").write_text("SF_SECRET=sfsync-demo-secret\nSF_PASSWORD=sfsync-demo\n")
    path = directory / "sfsync.yml"
    path.write_text(PROJECT.replace("{login_url}", login_url))
    return path


@pytest.fixture
def project_file(tmp_path: Path, emulator: InProcessEmulator) -> Path:
    return write_project(tmp_path / "project", emulator.base_url)


@contextmanager
def app_client(app: FastAPI, base_url: str = "http://127.0.0.1:8700") -> Iterator[httpx.Client]:
    """An HTTP client calling ``app`` in-process (follows redirects, keeps cookies, like a browser)."""
    transport = InProcessTransport(app)
    try:
        with httpx.Client(transport=transport, base_url=base_url, follow_redirects=True) as client:
            yield client
    finally:
        transport.shutdown()
        app.state.service.close()  # what the app's lifespan does when a server stops


@pytest.fixture
def ui_app(project_file: Path, emulator: InProcessEmulator) -> Iterator[httpx.Client]:
    transport: httpx.BaseTransport = emulator.transport
    app = create_app(UiSettings(project_file=project_file, token=TOKEN, transport=transport, poll_ms=100))
    with app_client(app) as client:
        yield client


@pytest.fixture
def api(ui_app: httpx.Client) -> httpx.Client:
    """The app with the bearer token on every request."""
    ui_app.headers["Authorization"] = f"Bearer {TOKEN}"
    return ui_app
