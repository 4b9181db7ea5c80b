"""Round-trip edits of sfsync.yml: comments, order and style survive; values stay strings for any reader."""

from __future__ import annotations

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
