"""Round-trip edits of sfsync.yml: comments, order and style survive; values stay strings for any reader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sfsync.web.syncedit import SyncRefused, edited_text
from tests.web.conftest import PROJECT

TEXT = PROJECT.replace("{login_url}", "http://127.0.0.1:8642")
LEADS = {
    "from": "people",
    "to": "org",
    "object": "Lead",
    "mode": "upsert",
    "object_id": {"column": "id", "field": "External_Id__c"},
    "mappings": {"last": "LastName", "email": "Company"},
    "schedule": {"any": [{"daily": "07:00"}, {"cron": "0 7 * * 1-5"}]},
    "warnings": {"rejected_rows_percent": 10.0, "notify": ["ops"]},
}


def test_a_new_sync_goes_last_and_everything_else_is_unchanged() -> None:
    new = edited_text(TEXT, "leads", LEADS, create=True)
    head = TEXT.rpartition("# trailing comment")[0]
    assert new.startswith(head.rstrip("\n"))
    assert new.rstrip().endswith("# trailing comment")
    block = new[new.index("  leads:") :]
    assert "object_id: {column: id, field: External_Id__c}" in block
    assert 'daily: "07:00"' in block  # a YAML 1.1 reader would take 07:00 for the number 420
    assert yaml.safe_load(new)["syncs"]["leads"] == LEADS


def test_editing_keeps_position_comments_and_flow_style() -> None:
    entry = {**LEADS, "object": "Contact", "mappings": {"first": "FirstName", "last": "LastName"}}
    del entry["warnings"]
    new = edited_text(TEXT, "contacts", entry, create=False)
    assert "object_id: {column: id, field: External_Id__c}   # keep this comment" in new
    assert "# people become contacts, matched on the external id\n  contacts:" in new
    assert "mappings: {first: FirstName, last: LastName}" in new
    assert yaml.safe_load(new)["syncs"]["contacts"] == entry


@pytest.mark.parametrize("empty", ["syncs: {}\n", "syncs:\n", ""])
def test_the_first_sync_of_a_project(empty: str) -> None:
    head = TEXT[: TEXT.index("syncs:")]
    new = edited_text(head + empty, "leads", LEADS, create=True)
    assert "\nsyncs:\n  leads:\n    from: people\n" in new
    assert yaml.safe_load(new)["syncs"] == {"leads": LEADS}


def test_create_and_edit_check_the_name() -> None:
    with pytest.raises(SyncRefused, match="already exists"):
        edited_text(TEXT, "contacts", LEADS, create=True)
    with pytest.raises(SyncRefused, match="no sync"):
        edited_text(TEXT, "leads", LEADS, create=False)


def test_the_editor_refuses_a_file_with_an_alias_bomb_or_a_language_tag() -> None:
    bomb = "x-a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"x-{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]\n"
        for p, n in zip("abcdefg", "bcdefgh", strict=True)
    )
    with pytest.raises(SyncRefused) as info:
        edited_text(bomb + TEXT, "leads", LEADS, create=True)
    assert "aliases" in info.value.problems[0]
    tagged = TEXT.replace("syncs:", "x-run: !!python/object/apply:os.system [id]\nsyncs:")
    with pytest.raises(SyncRefused, match="refused as YAML") as info:
        edited_text(tagged, "leads", LEADS, create=True)
    assert "!!python/object/apply:os.system" in info.value.problems[0]


# Formatting ruamel would change if it re-wrote the whole file: a long line over its width, a sequence
# indented flush, single quotes, odd spacing, a comment between syncs, no blank-line discipline.
STYLED = """\
version: 1   # odd spacing kept
sources:
    wh: {type: duckdb,    path: 'wh.duckdb'}
models:
  people: {source: wh, kind: user, primary_key: id, sql: "LONG_SQL"}
destinations:
  org:
    type: salesforce
    login_url: http://127.0.0.1:8642
    auth: AUTH
notifications:
  ops: {type: email, to: [ops@example.com], smtp: {host: localhost, port: 25}}
syncs:
  first_one:
    from: people
    to: org
    object: Contact
    mode: upsert
    object_id: {column: id, field: External_Id__c}
    mappings:
      first: FirstName
      last:    LastName
    warnings:
      notify:
      - ops
  # the comment above the second sync stays with it
  contacts:   # edited below
    from: people
    to: org
    object: Contact
    mode: upsert
    object_id: {column: id, field: External_Id__c}   # keep this comment
    mappings: {first: FirstName, last: LastName, email: Email}

  third_one:
    from: 'people'
    to: org
    object: Lead
    mode: insert
    mappings: {last: LastName, email: Company}
    # a comment at the end of the last sync
# the end
""".replace(
    "LONG_SQL",
    "select id, first, last, email, age from people where email is not null and age > 0 order by id",
).replace(
    "AUTH",
    '{flow: password, client_id: sfsync-demo-client, client_secret: "${SF_SECRET}",'
    ' username: admin@example.com, password: "${SF_PASSWORD}"}',
)
assert max(len(line) for line in STYLED.splitlines()) > 110  # over ruamel's width: it would fold them


def test_an_edit_changes_only_the_edited_syncs_lines() -> None:
    start = STYLED.index("  contacts:")
    end = STYLED.index("\n  third_one:") - 1  # the blank line before the third sync stays
    entry = {
        "from": "people",
        "to": "org",
        "object": "Contact",
        "mode": "upsert",
        "object_id": {"column": "id", "field": "External_Id__c"},
        "mappings": {"first": "FirstName", "email": "Email"},
        "schedule": {"every": "15m"},
    }
    new = edited_text(STYLED, "contacts", entry, create=False)
    assert new.startswith(STYLED[:start]) and new.endswith(STYLED[end:]), new
    block = new[start : len(new) - len(STYLED) + end]
    assert block.startswith("  contacts:   # edited below\n")
    assert "object_id: {column: id, field: External_Id__c}   # keep this comment\n" in block
    assert yaml.safe_load(new)["syncs"]["contacts"] == entry
    # the other syncs read exactly as before
    before, after = yaml.safe_load(STYLED)["syncs"], yaml.safe_load(new)["syncs"]
    assert before["first_one"] == after["first_one"] and before["third_one"] == after["third_one"]


def test_a_new_sync_is_added_after_the_last_one_and_nothing_else_moves() -> None:
    new = edited_text(STYLED, "leads", LEADS, create=True)
    cut = STYLED.index("    # a comment at the end of the last sync")
    assert new.startswith(STYLED[:cut]) and new.endswith(STYLED[cut:]), new
    added = new[cut : len(new) - len(STYLED) + cut]
    assert added.startswith("  leads:\n    from: people\n")
    assert yaml.safe_load(new)["syncs"]["leads"] == LEADS


def test_editing_the_first_and_the_last_sync(tmp_path: Path) -> None:
    first = {**yaml.safe_load(STYLED)["syncs"]["first_one"], "mode": "update"}
    new = edited_text(STYLED, "first_one", first, create=False)
    tail = STYLED[STYLED.index("  # the comment above the second sync") :]
    assert new.startswith(STYLED[: STYLED.index("  first_one:")]) and new.endswith(tail)
    last = {**yaml.safe_load(STYLED)["syncs"]["third_one"], "object": "Contact", "mode": "upsert"}
    last["object_id"] = {"column": "id", "field": "External_Id__c"}
    new = edited_text(STYLED, "third_one", last, create=False)
    assert new.startswith(STYLED[: STYLED.index("  third_one:")])
    assert new.endswith("    # a comment at the end of the last sync\n# the end\n")
    assert yaml.safe_load(new)["syncs"]["third_one"] == last
