"""``sfsync init`` and ``init --demo``: projects that load, a demo warehouse whose models read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sfsync.cli.project_cmd  # noqa: F401  (registers init/check/describe)
from sfsync.cli._app import app
from sfsync.config import PasswordAuth, load_project
from sfsync.config.scaffold import EMULATOR_URL, write_project
from sfsync.demo_data import DEMO_COMPANIES, DEMO_INVALID_EMAILS, DEMO_PEOPLE
from sfsync.errors import ConfigError
from sfsync.sources import open_source, query_for


def test_init_demo_writes_a_project_that_loads_and_whose_models_read(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["init", str(tmp_path / "demo"), "--demo", "--json"])
    assert result.exit_code == 0, result.output
    files = {Path(p).name for p in json.loads(result.stdout)["files"]}
    assert files == {"sfsync.yml", ".env", ".gitignore", "warehouse.duckdb"}
    project = load_project(tmp_path / "demo" / "sfsync.yml")
    dest = project.destinations["emulator"]
    assert dest.login_url == EMULATOR_URL and isinstance(dest.auth, PasswordAuth)
    assert dest.auth.password.get_secret_value() == "sfsync-demo"
    assert "sfsync-demo" not in (tmp_path / "demo" / "sfsync.yml").read_text()  # secrets only in .env
    assert ".env" in (tmp_path / "demo" / ".gitignore").read_text()

    counts = {}
    with open_source(project, "warehouse") as source:
        for name in project.syncs:
            counts[name] = source.count_rows(query_for(project, project.syncs[name].from_))
        people = source.read(query_for(project, "people")).read_all().to_pylist()
    assert (
        counts["companies_to_accounts"] == DEMO_COMPANIES and counts["contact_mobile_phones"] == DEMO_PEOPLE
    )
    assert 0 < counts["people_to_contacts"] < DEMO_PEOPLE  # the segment of people with an e-mail
    assert 0 < counts["french_leads"] < DEMO_PEOPLE
    values = [v for row in people for v in row.values() if isinstance(v, str)]
    assert any(ch in v for v in values for ch in "éëøłñ"), "accents"
    assert any("'" in v for v in values) and any('"' in v for v in values), "quotes"
    assert any("," in v for v in values) and any("\n" in v for v in values), "commas and newlines"
    assert any(len(v) > 4000 for v in values), "long strings"
    assert any(row["email"] is None for row in people) and any(row["phone"] is None for row in people), (
        "nulls"
    )
    assert sum(1 for row in people if row["email"] and "@" not in row["email"]) == DEMO_INVALID_EMAILS
    assert all(row["company_name"] for row in people), "every person's company exists"
    assert all(len(row["last_name"]) <= 80 and len(row["first_name"] or "") <= 40 for row in people)


def test_plain_init_loads_and_refuses_to_overwrite(tmp_path: Path) -> None:
    write_project(tmp_path)
    project = load_project(tmp_path / "sfsync.yml")
    assert project.syncs["customers_to_contacts"].object == "Contact"
    with pytest.raises(ConfigError, match="already exists") as info:
        write_project(tmp_path)
    assert "--force" in (info.value.hint or "")
    write_project(tmp_path, demo=True, force=True)
    assert "emulator" in load_project(tmp_path).destinations


def test_init_with_project_option_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "proj" / "crm.yml"
    result = CliRunner().invoke(app, ["init", "--project", str(target)])
    assert result.exit_code == 0, result.output
    assert target.is_file() and (tmp_path / "proj" / ".env").is_file()
    assert load_project(target).version == 1
    result = CliRunner().invoke(app, ["init", str(tmp_path), "--project", str(target)])
    assert isinstance(result.exception, ConfigError)


@pytest.mark.parametrize("demo", [False, True])
def test_the_env_file_of_secrets_is_readable_by_its_owner_only(tmp_path: Path, demo: bool) -> None:
    write_project(tmp_path, demo=demo)
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600


def test_init_tightens_an_env_file_others_could_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("SF_PASSWORD=kept\n")
    env.chmod(0o644)
    write_project(tmp_path)
    assert env.read_text() == "SF_PASSWORD=kept\n" and env.stat().st_mode & 0o777 == 0o600
