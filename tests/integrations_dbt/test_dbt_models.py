"""Models that name a dbt model: a real dbt project on dbt-duckdb builds the table, sfsync reads the
relation and description from the manifest dbt wrote, and syncs it into the org emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sfsync.api import Project
from sfsync.errors import ConfigError
from tests.plugins.emulator import InProcessEmulator
from tests.schedule.helpers import SECRETS

REPO = Path(__file__).resolve().parents[2]
DBT = REPO / ".venv-dbt" / "bin" / "dbt"
"""dbt with the DuckDB adapter, in a venv of its own (`make dbt`; `make test` installs it)."""

DBT_PROJECT = """name: transform
version: "1.0"
config-version: 2
profile: transform
model-paths: [models]
"""
PEOPLE_SQL = """{{ config(materialized='table', alias=var('people_alias', 'people')) }}
select id, first_name as first, last_name as last, lower(email) as email
from raw_people where active
"""
SCHEMA_YML = """version: 2
models:
  - name: people
    description: People who signed up and are still active
"""
SFSYNC = """version: 1
sources:
  wh: {type: duckdb, path: wh.duckdb}
models:
  people: {source: wh, kind: user, primary_key: id, dbt: {project_dir: transform, model: people}}
  leads_raw: {source: wh, kind: user, primary_key: id, table: raw_people}
segments:
  people_a: {model: people, where: "last like 'A%'"}
destinations:
  org:
    type: salesforce
    login_url: LOGIN_URL
    auth: {flow: password, client_id: sfsync-demo-client, client_secret: "${SF_SECRET}",
           username: admin@example.com, password: "${SF_PASSWORD}"}
    settings: {max_retries: 0}
syncs:
  contacts:
    from: people
    to: org
    object: Contact
    mode: upsert
    object_id: {column: id, field: External_Id__c}
    mappings: {first: FirstName, last: LastName, email: Email}
    tags: [nightly, crm]
  leads:
    from: leads_raw
    to: org
    object: Lead
    mode: upsert
    object_id: {column: id, field: External_Id__c}
    mappings: {last_name: LastName, company: Company}
    tags: [hourly]
"""


@dataclass
class DbtProject:
    root: Path  # the sfsync project's folder: wh.duckdb, sfsync.yml, transform/

    @property
    def dir(self) -> Path:
        return self.root / "transform"

    def dbt(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(DBT), *args, "--project-dir", str(self.dir), "--profiles-dir", str(self.dir)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.dir,
            env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def write_project(self, login_url: str = "https://emulator.test") -> Path:
        path = self.root / "sfsync.yml"
        path.write_text(SFSYNC.replace("LOGIN_URL", login_url))
        (self.root / ".env").write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
        return path


def _raw_people(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "create or replace table raw_people as select 'P' || i as id, 'First' || i as first_name,"
            " case when i % 2 = 0 then 'Able' else 'Baker' end || i as last_name,"
            " 'Person' || i || '@Example.COM' as email, i < 4 as active, 'Acme' as company"
            " from range(6) t(i)"
        )
    finally:
        con.close()


@pytest.fixture
def dbt_project(tmp_path: Path) -> DbtProject:
    if not DBT.exists():
        pytest.fail(f"no dbt at {DBT}: run `make dbt` (make test installs it)")
    project = DbtProject(tmp_path)
    _raw_people(tmp_path / "wh.duckdb")
    (project.dir / "models").mkdir(parents=True)
    (project.dir / "dbt_project.yml").write_text(DBT_PROJECT)
    (project.dir / "profiles.yml").write_text(
        "transform:\n  target: dev\n  outputs:\n"
        f"    dev: {{type: duckdb, path: '{tmp_path / 'wh.duckdb'}', threads: 1}}\n"
    )
    (project.dir / "models" / "people.sql").write_text(PEOPLE_SQL)
    (project.dir / "models" / "schema.yml").write_text(SCHEMA_YML)
    return project


def _contacts(emulator: InProcessEmulator) -> list[tuple[Any, ...]]:
    with emulator.client() as http:
        answer = http.get(
            "/services/data/v62.0/query", params={"q": "SELECT External_Id__c, LastName, Email FROM Contact"}
        )
        answer.raise_for_status()
        return sorted((r["External_Id__c"], r["LastName"], r["Email"]) for r in answer.json()["records"])


def test_a_sync_reads_the_table_dbt_built_and_follows_its_relation(
    dbt_project: DbtProject, emulator: InProcessEmulator
) -> None:
    dbt_project.dbt("run")
    manifest = json.loads((dbt_project.dir / "target" / "manifest.json").read_text())
    assert manifest["nodes"]["model.transform.people"]["relation_name"] == '"wh"."main"."people"'
    with Project.load(dbt_project.write_project(), transport=emulator.transport) as project:
        assert project.model_description("people") == "People who signed up and are still active"
        assert project.select(["dbt:people"]) == ["contacts"]
        result = project.run("contacts")
        assert result.counts.created == 4
    # dbt's transformation (active people only, emails lower-cased) is what reached the org
    assert _contacts(emulator) == [
        (f"P{i}", f"{'Able' if i % 2 == 0 else 'Baker'}{i}", f"person{i}@example.com") for i in range(4)
    ]

    # dbt now builds the model under another name: sfsync follows the manifest, no edit of sfsync.yml
    con = duckdb.connect(str(dbt_project.root / "wh.duckdb"))
    con.execute("update raw_people set active = true")
    con.close()
    dbt_project.dbt("run", "--vars", "{people_alias: people_v2}")
    with Project.load(dbt_project.root / "sfsync.yml", transport=emulator.transport) as project:
        assert project.columns("people_a")  # a segment of the dbt model reads the same relation
        result = project.run("contacts")
        assert (result.counts.created, result.counts.updated) == (2, 0)
    assert [c[0] for c in _contacts(emulator)] == [f"P{i}" for i in range(6)]


def test_a_missing_manifest_or_model_is_a_clear_error(
    dbt_project: DbtProject, emulator: InProcessEmulator
) -> None:
    path = dbt_project.write_project()
    with Project.load(path, transport=emulator.transport) as project:
        with pytest.raises(
            ConfigError, match=r"models\.people\.dbt: there is no dbt manifest at .*manifest\.json"
        ) as e:
            project.run("contacts")
        assert "dbt parse" in (e.value.hint or "")
    dbt_project.dbt("parse")  # parsing is enough to write the manifest (the table is not built)
    (dbt_project.dir / "target" / "run_results.json").unlink(missing_ok=True)
    path.write_text(path.read_text().replace("model: people}", "model: peeple}"))
    with Project.load(path, transport=emulator.transport) as project:
        with pytest.raises(ConfigError, match="has no model 'peeple'") as e:
            project.columns("people")
        assert "dbt models there: people" in (e.value.hint or "")
    assert _contacts(emulator) == []


def test_run_select_through_the_command_line(dbt_project: DbtProject, live_emulator: Any) -> None:
    dbt_project.dbt("run")
    path = dbt_project.write_project(live_emulator.url)

    def sfsync(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
        return subprocess.run(
            [sys.executable, "-m", "sfsync", "run", *args, "--project", str(path), "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=path.parent,
        )

    done = sfsync("--select", "dbt:people")
    assert done.returncode == 0, done.stderr
    assert [r["sync"] for r in json.loads(done.stdout)] == ["contacts"]
    done = sfsync("--select", "tag:hourly tag:crm")
    assert done.returncode == 0, done.stderr
    assert sorted(r["sync"] for r in json.loads(done.stdout)) == ["contacts", "leads"]
    done = sfsync("--select", "tag:weekly")
    error = json.loads(done.stdout)["error"]
    assert done.returncode == 2 and "--select 'tag:weekly' picks no sync" in error["message"]
    assert error["hint"] == "tags in this project: crm, hourly, nightly"
