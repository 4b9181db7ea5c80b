"""A PostgreSQL-backed project for the warehouse planner tests: table ``people`` in a schema of its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

from sfsync.config import load_project
from sfsync.emulator.metadata.schema import DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD
from sfsync.state import StateStore
from sfsync.sync.engine import SyncSession

ENV = {"SF_CLIENT_SECRET": DEFAULT_CLIENT_SECRET, "SF_PASSWORD": DEFAULT_PASSWORD}
FIELDS = "External_Id__c, LastName, Email, Title"


@dataclass
class PgProject:
    root: Path
    url: str
    login_url: str
    transport: httpx.BaseTransport | None
    schema: str = ""

    def __post_init__(self) -> None:
        self.schema = self.schema or "t" + uuid.uuid4().hex[:10]

    @property
    def path(self) -> Path:
        return self.root / "sfsync.yml"

    @property
    def planner_schema(self) -> str:
        return self.schema + "_sf"

    def create(self, rows: int) -> None:
        self.sql(
            f"CREATE SCHEMA {self.schema}",
            f"CREATE TABLE {self.schema}.people"
            " (id integer, ext text, last_name text, email text, title text)",
            f"INSERT INTO {self.schema}.people SELECT i, 'ext-' || i, 'Name ' || i, 'p' || i || '@x.com',"
            f" 'title ' || i FROM generate_series(1, {rows}) i",
        )

    def sql(self, *statements: str) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        with psycopg.connect(self.url, autocommit=True) as conn:
            for s in statements:
                cur = conn.execute(s.encode())
                out = list(cur.fetchall()) if cur.description else []
        return out

    def write(self, planner: str, api: str = "rest", sync_planner: str | None = None) -> None:
        """The project; ``planner`` is the source's, ``sync_planner`` the sync's own (None: not set)."""
        project = {
            "version": 1,
            "sources": {
                "wh": {
                    "type": "postgres",
                    "url": self.url,
                    "planner": planner,
                    "planner_schema": self.planner_schema,
                }
            },
            "models": {
                "people": {
                    "source": "wh",
                    "kind": "user",
                    "primary_key": "id",
                    "table": f"{self.schema}.people",
                }
            },
            "destinations": {
                "org": {
                    "type": "salesforce",
                    "login_url": self.login_url,
                    "auth": {
                        "flow": "password",
                        "client_id": "sfsync-demo-client",
                        "client_secret": "${SF_CLIENT_SECRET}",
                        "username": "admin@example.com",
                        "password": "${SF_PASSWORD}",
                    },
                    "settings": {"bulk_poll_seconds": 0.05},
                }
            },
            "syncs": {
                "people": {
                    "from": "people",
                    "to": "org",
                    "object": "Contact",
                    "mode": "upsert",
                    "api": api,
                    "object_id": {"column": "ext", "field": "External_Id__c"},
                    "mappings": {"last_name": "LastName", "email": "Email", "title": "Title"},
                }
            },
        }
        if sync_planner is not None:
            project["syncs"]["people"]["planner"] = sync_planner  # type: ignore[index]
        self.path.write_text(yaml.safe_dump(project, sort_keys=False))

    def session(self) -> SyncSession:
        return SyncSession(
            load_project(self.path, environ=ENV),
            StateStore.open(self.root / ".sfsync"),
            transport=self.transport,
        )

    def snapshot_rows(self) -> int:
        table = [
            r[0]
            for r in self.sql(
                "SELECT table_name FROM information_schema.tables"
                f" WHERE table_schema = '{self.planner_schema}'"
                " AND table_name LIKE 'snap_%'"
            )
        ]
        assert len(table) == 1, table
        return int(self.sql(f'SELECT count(*) FROM "{self.planner_schema}"."{table[0]}"')[0][0])

    def tables(self) -> list[str]:
        return sorted(
            str(r[0])
            for r in self.sql(
                "SELECT table_name FROM information_schema.tables"
                f" WHERE table_schema = '{self.planner_schema}'"
            )
        )
