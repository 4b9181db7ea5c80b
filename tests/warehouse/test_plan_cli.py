"""``sfsync plan`` through the real command line says which planner diffed and how many rows left the
source (text and --json), for both planners."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugins.emulator import LiveEmulator
from tests.warehouse.helpers import ENV, PgProject

pytestmark = pytest.mark.slow


def _sfsync(pg: PgProject, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SF_")}, **ENV}
    return subprocess.run(
        [sys.executable, "-m", "sfsync", *args, "--project", str(pg.path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=pg.root,
    )


def test_plan_names_the_planner_and_the_rows_that_left(
    tmp_path: Path, postgres_url: str, live_emulator: LiveEmulator
) -> None:
    pg = PgProject(tmp_path, postgres_url, live_emulator.url, None)
    pg.create(25)
    pg.write("warehouse")
    ran = _sfsync(pg, "run", "people")
    assert ran.returncode == 0, ran.stderr
    pg.sql(f"UPDATE {pg.schema}.people SET title = 'moved' WHERE id IN (1, 2)")
    text = _sfsync(pg, "plan", "people")
    assert text.returncode == 0, text.stderr
    assert "planner: warehouse (2 row(s) left the warehouse)" in text.stdout
    as_json = json.loads(_sfsync(pg, "plan", "people", "--json").stdout)
    assert (as_json["planner"], as_json["rows_out"], as_json["changed"]) == ("warehouse", 2, 2)
    pg.write("local")
    local = json.loads(_sfsync(pg, "plan", "people", "--json").stdout)
    assert (local["planner"], local["rows_out"], local["changed"]) == ("local", 25, 2)
    assert live_emulator.org.query("SELECT COUNT() FROM Contact WHERE Title = 'moved'").total_size == 0
