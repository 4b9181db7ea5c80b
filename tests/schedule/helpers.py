"""Shared pieces of the scheduler and alert tests: a tiny project on a DuckDB warehouse, an HTTP receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import httpx

from sfsync.config import Project, load_project

#: Values of the ``${NAME}`` variables the test projects use; none may appear in any message.
SECRETS = {
    "SF_SECRET": "sfsync-demo-secret",
    "SF_PASSWORD": "sfsync-demo",
    "HOOK_TOKEN": "tok-3f9a7c1e55d2",
    "HOOK_AUTH": "hdr-b81d40aa7e93",
    "SLACK_PATH": "T0001/B0002/slackSecret9c2e7f",
    "SMTP_PASSWORD": "smtp-pw-5e1f02c4",
}

SYNC_BLOCK = """
  {name}:
    from: {source}
    to: org
    object: {object}
    mode: upsert
    api: {api}
    object_id: {{column: id, field: External_Id__c}}
    mappings: {mappings}
    schedule: {schedule}
    warnings: {warnings}
"""


def make_people(path: Path, count: int, *, bad_emails: int = 0, table: str = "people") -> None:
    """(Re)create ``table`` with ``count`` people; the first ``bad_emails`` have an invalid email."""
    con = duckdb.connect(str(path))
    try:
        con.execute(f"drop table if exists {table}")
        con.execute(
            f"create table {table} as select cast(i as varchar) as id, 'First' || i as first,"
            " 'Last' || i as last,"
            f" case when i < {bad_emails} then 'not-an-email-' || i else 'p' || i || '@example.com' end"
            f" as email from range({count}) t(i)"
        )
    finally:
        con.close()


def drop_table(path: Path, table: str = "people") -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(f"drop table if exists {table}")
    finally:
        con.close()


@dataclass
class ProjectFactory:
    """Writes ``sfsync.yml`` into ``root`` and loads it with the test secrets."""

    root: Path
    login_url: str = "https://emulator.test"
    notifications: str = ""
    syncs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def warehouse(self) -> Path:
        return self.root / "wh.duckdb"

    def add_sync(
        self,
        name: str = "contacts",
        *,
        schedule: str = "{every: 15m}",
        warnings: str = "{on_failure: true}",
        source: str = "people",
        mappings: str = "{first: FirstName, last: LastName, email: Email}",
        api: str = "auto",
        object: str = "Contact",
    ) -> None:
        self.syncs[name] = {
            "schedule": schedule,
            "warnings": warnings,
            "source": source,
            "mappings": mappings,
            "api": api,
            "object": object,
        }

    def text(self) -> str:
        syncs = "".join(SYNC_BLOCK.format(name=n, **s) for n, s in self.syncs.items()) or " {}\n"
        notifications = f"notifications:\n{self.notifications}\n" if self.notifications else ""
        return f"""version: 1
sources:
  wh: {{type: duckdb, path: wh.duckdb}}
models:
  people: {{source: wh, kind: user, primary_key: id, table: people}}
  companies: {{source: wh, kind: custom, primary_key: id, table: people}}
segments:
  evens: {{model: people, where: "cast(id as integer) % 2 = 0"}}
  odds: {{model: people, where: "cast(id as integer) % 2 = 1"}}
destinations:
  org:
    type: salesforce
    login_url: {self.login_url}
    auth: {{flow: password, client_id: sfsync-demo-client, client_secret: "${{SF_SECRET}}",
            username: admin@example.com, password: "${{SF_PASSWORD}}"}}
    settings: {{max_retries: 0, bulk_poll_seconds: 0.2}}
{notifications}syncs:{syncs}"""

    def write(self) -> Path:
        path = self.root / "sfsync.yml"
        path.write_text(self.text())
        env = "".join(f"{k}={v}\n" for k, v in SECRETS.items())
        (self.root / ".env").write_text(env)
        return path

    def load(self, environ: Mapping[str, str] | None = None) -> Project:
        path = self.write()
        return load_project(path, environ=dict(environ) if environ is not None else {})


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


class Receiver:
    """A real HTTP server on loopback that records every POST (JSON bodies) and answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        self.held = threading.Event()  # clear it to hold every answer until it is set again
        self.held.set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                status = receiver.status
                receiver.held.wait(60)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                reply = b"ok" if status < 400 else b"invalid_token"
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def posts(self, prefix: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiving() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


def webhook_notifications(receiver: Receiver) -> str:
    """A generic webhook (token in the query, secret header) and a Slack hook, both to ``receiver``."""
    return (
        f'  hook: {{type: webhook, url: "{receiver.url}/hook?token=${{HOOK_TOKEN}}",'
        ' headers: {Authorization: "Bearer ${HOOK_AUTH}"}}\n'
        f'  slack: {{type: slack, webhook_url: "{receiver.url}/services/${{SLACK_PATH}}"}}'
    )


def assert_no_secret(text: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"secret {name} leaked: {text!r}"


class GatedTransport(httpx.BaseTransport):
    """Passes requests to ``inner``; writes to Salesforce wait until ``gate`` opens (to hold a run)."""

    def __init__(self, inner: httpx.BaseTransport, *, timeout_s: float = 30.0) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.waiting = threading.Semaphore(0)
        self.timeout_s = timeout_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "/composite/" in request.url.path or "/jobs/ingest" in request.url.path:
            self.waiting.release()
            if not self.gate.wait(self.timeout_s):
                raise AssertionError("the test never opened the gate")
        return self.inner.handle_request(request)

    def wait_blocked(self, count: int = 1, timeout_s: float = 30.0) -> None:
        for _ in range(count):
            if not self.waiting.acquire(timeout=timeout_s):
                raise AssertionError("no run reached Salesforce in time")
