"""Loading a valid project: typed values, ${NAME} from the environment or .env, secrets kept secret."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sfsync.config import (
    AnySchedule,
    CronSchedule,
    DailySchedule,
    EverySchedule,
    ManualSchedule,
    PasswordAuth,
    PostgresSource,
    Project,
    SalesforceDestination,
    load_project,
    parse_project,
)
from sfsync.config.env import parse_dotenv
from sfsync.errors import ConfigError
from tests.config.helpers import BASE, ENV, edit


def _write(tmp_path: Path, text: str = BASE, env: str | None = None) -> Path:
    (tmp_path / "sfsync.yml").write_text(text, encoding="utf-8")
    if env is not None:
        (tmp_path / ".env").write_text(env, encoding="utf-8")
    return tmp_path / "sfsync.yml"


def test_design_example_loads_into_typed_models(tmp_path: Path) -> None:
    project = parse_project(BASE, file="sfsync.yml", project_dir=tmp_path, environ=ENV)
    assert project.version == 1
    pg = project.sources["pg"]
    assert isinstance(pg, PostgresSource)
    assert pg.url.get_secret_value() == "postgresql://app:pg-secret-1@localhost/analytics"
    dest = project.destinations["salesforce"]
    assert isinstance(dest, SalesforceDestination) and isinstance(dest.auth, PasswordAuth)
    assert dest.auth.password.get_secret_value() == "sf-password-3"
    assert dest.settings.max_concurrency == 4 and dest.api_version == "62.0"
    sync = project.syncs["vip_contacts"]
    assert sync.from_ == "french_vips" and sync.mode == "upsert" and sync.api == "auto"
    assert sync.object_id is not None and sync.object_id.field == "External_Id__c"
    assert sync.mappings == {"email": "Email", "first_name": "FirstName", "last_name": "LastName"}
    assert isinstance(sync.schedule, EverySchedule) and sync.schedule.interval == timedelta(minutes=15)
    assert sync.warnings.rejected_rows_percent == 10 and sync.warnings.notify == ["ops_email", "ops_slack"]


def test_secrets_never_show_in_reprs_or_dumps(tmp_path: Path) -> None:
    project = parse_project(BASE, file="sfsync.yml", project_dir=tmp_path, environ=ENV)
    text = repr(project) + str(project) + project.model_dump_json()
    for name in ("PG_PASSWORD", "SF_CLIENT_SECRET", "SF_PASSWORD", "SLACK_WEBHOOK_URL"):
        assert ENV[name] not in text


def test_resolve_sync_gives_model_segment_filter_source_and_destination(tmp_path: Path) -> None:
    project = parse_project(BASE, file="sfsync.yml", project_dir=tmp_path, environ=ENV)
    r = project.resolve_sync("vip_contacts")
    assert (r.model_name, r.segment_name, r.source_name, r.destination_name) == (
        "customers",
        "french_vips",
        "warehouse",
        "salesforce",
    )
    assert r.where == "country = 'FR' and lifetime_value > 1000"
    assert r.model.kind == "user" and r.model.base_sql == "select * from customers"
    assert set(r.notifications) == {"ops_email", "ops_slack"}
    assert project.resolve_from("companies")[1].base_sql == "select * from companies"
    with pytest.raises(ConfigError, match="there is no sync 'nope'"):
        project.resolve_sync("nope")


def test_dotenv_beside_the_file_and_environment_wins(tmp_path: Path) -> None:
    dotenv = "\n".join(f"{k}=from-dotenv-{k}" for k in ENV) + "\n"
    path = _write(tmp_path, env=dotenv)
    project = load_project(path, environ={"SF_PASSWORD": "from-environment"})
    auth = project.destinations["salesforce"].auth
    assert isinstance(auth, PasswordAuth)
    assert auth.password.get_secret_value() == "from-environment"
    assert auth.client_secret.get_secret_value() == "from-dotenv-SF_CLIENT_SECRET"
    assert project.path == path.resolve() and project.root == tmp_path.resolve()
    assert project.resolve_path("warehouse.duckdb") == tmp_path.resolve() / "warehouse.duckdb"


def test_load_project_reads_the_real_environment_and_accepts_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path)
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    assert load_project(tmp_path).syncs["vip_contacts"].object == "Contact"


def test_missing_project_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no project file") as info:
        load_project(tmp_path / "nope.yml")
    assert "sfsync init" in (info.value.hint or "")


def test_dotenv_syntax() -> None:
    text = 'export A=1\nB="two words"\nC=\'x # y\'\nD=plain # comment\n# E=no\nF="line\\nbreak"\nbad line\n'
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "x # y", "D": "plain", "F": "line\nbreak"}


def test_escaped_reference_stays_literal(tmp_path: Path) -> None:
    text = edit("where: \"country = 'FR'", "where: \"note = '$${HOME}' or country = 'FR'")
    project = parse_project(text, file="sfsync.yml", project_dir=tmp_path, environ=ENV)
    assert project.segments["french_vips"].where.startswith("note = '${HOME}'")


def test_yaml_12_keeps_times_as_text(tmp_path: Path) -> None:
    project = parse_project(
        edit("{every: 15m}", "{daily: 07:00}"), file="f", project_dir=tmp_path, environ=ENV
    )
    schedule = project.syncs["vip_contacts"].schedule
    assert isinstance(schedule, DailySchedule) and (schedule.hour, schedule.minute) == (7, 0)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("{manual: true}", ManualSchedule),
        ("manual", ManualSchedule),
        ("{every: 4h}", EverySchedule),
        ('{daily: "23:59"}', DailySchedule),
        ('{cron: "0 7 * * 1-5"}', CronSchedule),
        ('{any: [{every: 1d}, {cron: "*/5 * * * *"}]}', AnySchedule),
    ],
)
def test_schedule_forms(tmp_path: Path, text: str, kind: type) -> None:
    project = parse_project(edit("{every: 15m}", text), file="f", project_dir=tmp_path, environ=ENV)
    assert isinstance(project.syncs["vip_contacts"].schedule, kind)


def test_schedule_defaults_to_manual(tmp_path: Path) -> None:
    project = parse_project(
        edit("    schedule: {every: 15m}\n", ""), file="f", project_dir=tmp_path, environ=ENV
    )
    assert isinstance(project.syncs["vip_contacts"].schedule, ManualSchedule)


def test_projects_built_in_code_may_hold_secrets_but_not_dangling_references() -> None:
    data: dict[str, Any] = {
        "version": 1,
        "sources": {"w": {"type": "duckdb", "path": "w.duckdb"}},
        "models": {"m": {"source": "w", "kind": "custom", "primary_key": "id", "table": "t"}},
        "destinations": {
            "sf": {
                "type": "salesforce",
                "login_url": "http://127.0.0.1:8642",
                "auth": {
                    "flow": "client_credentials",
                    "client_id": "a",
                    "client_secret": "literal-ok-in-code",
                },
            }
        },
        "syncs": {
            "s": {"from": "m", "to": "sf", "object": "Account", "mode": "insert", "mappings": {"n": "Name"}}
        },
    }
    assert Project.model_validate(data).syncs["s"].to == "sf"
    data["syncs"]["s"]["to"] = "elsewhere"
    with pytest.raises(ValidationError, match="destination 'elsewhere' does not exist"):
        Project.model_validate(data)


def test_yaml_anchors_under_x_keys_are_reusable(tmp_path: Path) -> None:
    text = BASE.replace(
        "syncs:\n", "x-contact-defaults: &contact\n  to: salesforce\n  object: Contact\n\nsyncs:\n"
    )
    text += (
        "  fr_contacts:\n    <<: *contact\n    from: french_vips\n    mode: insert\n"
        "    mappings: {last_name: LastName}\n"
    )
    project = parse_project(text, file="f", project_dir=tmp_path, environ=ENV)
    sync = project.syncs["fr_contacts"]
    assert (sync.to, sync.object, sync.mode) == ("salesforce", "Contact", "insert")
