"""``--select``: syncs picked by name, pattern, tag, model (through segments) or dbt model."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsync.config import Project, load_project, select_syncs
from sfsync.errors import ConfigError

PROJECT = """version: 1
sources:
  wh: {type: duckdb, path: wh.duckdb}
models:
  people: {source: wh, kind: user, primary_key: id, dbt: {project_dir: transform, model: stg_people}}
  firms: {source: wh, kind: custom, primary_key: id, table: firms}
segments:
  vips: {model: people, where: "vip"}
destinations:
  org: {type: salesforce, instance_url: "https://x.example.com",
        auth: {flow: access_token, access_token: "${TOKEN}"}}
syncs:
  contacts_all: {from: people, to: org, object: Contact, mode: insert, mappings: {a: LastName},
                 tags: [nightly]}
  contacts_vip: {from: vips, to: org, object: Contact, mode: insert, mappings: {a: LastName},
                 tags: [hourly, crm]}
  accounts: {from: firms, to: org, object: Account, mode: insert, mappings: {a: Name}, tags: [nightly, crm]}
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "sfsync.yml").write_text(PROJECT)
    return load_project(tmp_path / "sfsync.yml", environ={"TOKEN": "t"})


@pytest.mark.parametrize(
    ("selectors", "picked"),
    [
        (["accounts"], ["accounts"]),
        (["contacts_*"], ["contacts_all", "contacts_vip"]),
        (["tag:nightly"], ["contacts_all", "accounts"]),
        (["tag:hourly", "accounts"], ["contacts_vip", "accounts"]),
        (["tag:crm tag:nightly"], ["contacts_all", "contacts_vip", "accounts"]),
        (["tag:crm,tag:nightly"], ["accounts"]),
        (["model:people"], ["contacts_all", "contacts_vip"]),
        (["dbt:stg_people"], ["contacts_all", "contacts_vip"]),
        (["dbt:stg_people,tag:hourly"], ["contacts_vip"]),
    ],
)
def test_selectors_pick_in_file_order(project: Project, selectors: list[str], picked: list[str]) -> None:
    assert select_syncs(project, selectors) == picked


@pytest.mark.parametrize(
    ("selector", "message", "hint"),
    [
        ("tag:weekly", "'tag:weekly' picks no sync", "tags in this project: crm, hourly, nightly"),
        ("dbt:people", "'dbt:people' picks no sync", "dbt models read in this project: stg_people"),
        ("contact", "'contact' picks no sync", "syncs in this project: accounts, contacts_all, contacts_vip"),
        ("owner:me", "'owner' is not a selector kind", "write NAME, tag:NAME, model:NAME, dbt:NAME"),
        ("tag:hourly,tag:nightly", "none matches all of its comma-joined parts", "separate selectors"),
    ],
)
def test_a_selector_that_picks_nothing_says_what_exists(
    project: Project, selector: str, message: str, hint: str
) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        select_syncs(project, [selector])
    assert hint in (e.value.hint or "")


def test_tags_are_plain_words(tmp_path: Path) -> None:
    (tmp_path / "sfsync.yml").write_text(PROJECT.replace("tags: [nightly]}", "tags: [night ly]}"))
    with pytest.raises(ConfigError, match="tag 'night ly' is not a plain word"):
        load_project(tmp_path / "sfsync.yml", environ={"TOKEN": "t"})


def test_a_model_has_one_of_sql_table_or_dbt(tmp_path: Path) -> None:
    both = PROJECT.replace("table: firms}", "table: firms, dbt: {project_dir: t, model: m}}")
    (tmp_path / "sfsync.yml").write_text(both)
    with pytest.raises(ConfigError, match=r"exactly one of sql: .*, table: .* or dbt:"):
        load_project(tmp_path / "sfsync.yml", environ={"TOKEN": "t"})
