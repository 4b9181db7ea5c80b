"""Conformance cases with the warehouse planner on PostgreSQL: the same expectations hold, and the org
ends identical to the local planner's (DuckDB) after every run.

The case's warehouse table is created in PostgreSQL (its DuckDB column types and ``sql`` steps transpiled
by sqlglot), in a schema of its own; the source says ``planner: warehouse`` with a planner schema of its
own too. Each selected case runs through REST with both planners, each on its own org and state store.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlglot
import yaml

from tests.conformance.test_conformance import CASES_DIR, TABLE, CaseRun, _expand, _load, _play

#: Cases run with both planners: single-sync and multi-sync, retries, mapping changes, segments, types,
#: rows that leave the model.
CASES = (
    "upsert_contact_lifecycle",
    "upsert_contact_nulls",
    "rejected_retry_contact",
    "mapping_change_contact",
    "insert_account_retry",
    "full_resync_lead",
    "typed_values_account",
    "segment_contact_key_errors",
    "lookup_contact_account",
    "update_contact_by_id",
    # on_row_removed: clear, set (on a segment), delete (by external id and by Id), guard trips, rows coming
    # back: the gone keys come out of the warehouse and leave its snapshot once the removal is accepted
    "removed_clear_contact",
    "removed_delete_contact",
    "removed_delete_update_by_id",
    "removed_flag_segment",
)


class PgCaseRun(CaseRun):
    """A case whose warehouse is a PostgreSQL schema and whose source uses the warehouse planner."""

    url: str = ""
    schema: str = ""

    def start(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"'.encode())
            for table, model in self.models.items():
                cols = ", ".join(f"{c} {t}" for c, t in model["columns"].items())
                ddl = sqlglot.transpile(
                    f"CREATE TABLE {self.schema}.{table} ({cols})", read="duckdb", write="postgres"
                )
                conn.execute(ddl[0].encode())
        self._write_project()
        from sfsync.state import StateStore

        self.session = self._open_session(StateStore.open(self.root / ".sfsync"))

    def insert_rows(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for table, model in self.models.items():
                names = list(model["columns"])
                rows = [
                    [r.get(c) for c in names] if isinstance(r, dict) else list(r)
                    for r in _expand(model.get("rows") or [], self.ids)
                ]
                if rows:
                    marks = ", ".join("%s" for _ in names)
                    with conn.cursor() as cur:
                        cur.executemany(f"INSERT INTO {self.schema}.{table} VALUES ({marks})".encode(), rows)

    def sql(self, statements: str | list[str]) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"'.encode())
            for s in [statements] if isinstance(statements, str) else statements:
                for stmt in sqlglot.transpile(_expand(s, self.ids), read="duckdb", write="postgres"):
                    conn.execute(stmt.encode())

    def _write_project(self) -> None:
        super()._write_project()
        path = self.root / "sfsync.yml"
        project = yaml.safe_load(path.read_text())
        project["sources"] = {
            "wh": {
                "type": "postgres",
                "url": self.url,
                "planner": "warehouse",
                "planner_schema": self.schema + "_sf",
            }
        }
        for name, model in project["models"].items():
            model["table"] = f"{self.schema}.{model['table']}"
            del name
        if project.get("segments"):
            for seg in project["segments"].values():
                seg["where"] = sqlglot.transpile(seg["where"], read="duckdb", write="postgres")[0]
        path.write_text(yaml.safe_dump(project, sort_keys=False, allow_unicode=True))


def _play_pg(case: dict[str, Any], root: Path, name: str, url: str) -> CaseRun:
    run_class = type("PgCase", (PgCaseRun,), {"url": url, "schema": "c" + uuid.uuid4().hex[:10]})
    return _play(case, "rest", root, name, run_class)


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_case_with_warehouse_planner(name: str, tmp_path: Path, postgres_url: str) -> None:
    case = _load(CASES_DIR / f"{name}.yaml")
    assert not case.get("known_bug"), f"{name} is a known bug: pick another case"
    assert TABLE
    local = _play(case, "rest", tmp_path / "local", name)
    warehouse = _play_pg(case, tmp_path / "warehouse", name, postgres_url)
    assert local.states, f"{name}: the case has no run step"
    assert len(local.states) == len(warehouse.states)
    for i, (a, b) in enumerate(zip(local.states, warehouse.states, strict=True), start=1):
        only_a, only_b = sorted(set(a) - set(b))[:3], sorted(set(b) - set(a))[:3]
        assert a == b, f"{name}: after run {i} the org differs: only local {only_a}; only warehouse {only_b}"
    for i, (a, b) in enumerate(zip(local.outcomes, warehouse.outcomes, strict=True), start=1):
        assert a == b, f"{name}: run {i}'s row results differ: {sorted(set(a) ^ set(b))[:4]}"
