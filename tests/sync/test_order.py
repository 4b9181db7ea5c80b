"""The order of syncs: parents before the children whose lookups name them; cycles named."""

from __future__ import annotations

from typing import Any

import pytest

from sfsync.config.project import Sync
from sfsync.errors import ConfigError
from sfsync.sync.order import groups, order_syncs, parent_objects


def sync(obj: str, **mappings: Any) -> Sync:
    return Sync.model_validate(
        {
            "from": "m",
            "to": "org",
            "object": obj,
            "mode": "upsert",
            "object_id": {"column": "id", "field": "External_Id__c"},
            "mappings": mappings or {"name": "Name"},
        }
    )


def ref(name: str, rel: str, *targets: str) -> dict[str, Any]:
    return {"name": name, "type": "reference", "relationshipName": rel, "referenceTo": list(targets)}


DESCRIBES = {
    "Contact": {
        "fields": [ref("AccountId", "Account", "Account"), ref("ReportsToId", "ReportsTo", "Contact")]
    },
    "Case": {
        "fields": [
            ref("ContactId", "Contact", "Contact"),
            ref("AccountId", "Account", "Account"),
            ref("OwnerId", "Owner", "Group", "User"),
            ref("RecordTypeId", "RecordType", "RecordType"),
        ]
    },
    "Account": {"fields": [ref("Primary_Contact__c", "Primary_Contact__r", "Contact")]},
}
SYNCS = {
    "cases": sync(
        "Case",
        contact="Contact.External_Id__c",
        company={"field": "AccountId", "by": "External_Id__c"},
        kind="RecordType.DeveloperName",
        rep="User:Owner.Username",
    ),
    "contacts": sync("Contact", company="Account.External_Id__c", boss="ReportsTo.Email"),
    "accounts": sync("Account"),
    "leads": sync("Lead"),
}


def parents(syncs: dict[str, Sync]) -> dict[str, set[str]]:
    return {n: parent_objects(s, DESCRIBES.get(s.object)) for n, s in syncs.items()}


def test_parent_objects_come_from_describe_and_named_objects() -> None:
    p = parents(SYNCS)
    # record types are no parents; a self reference is (its own sync is not ordered before itself)
    assert p == {
        "cases": {"contact", "account", "user"},
        "contacts": {"account", "contact"},
        "accounts": set(),
        "leads": set(),
    }
    assert parent_objects(SYNCS["cases"], None) == {"user"}  # without describe: named objects only


def test_parents_run_first_otherwise_in_the_order_given() -> None:
    p = parents(SYNCS)
    assert order_syncs(SYNCS, p, ["cases", "contacts", "accounts", "leads"]) == [
        "accounts",
        "contacts",
        "cases",
        "leads",
    ]
    assert order_syncs(SYNCS, p, ["leads", "cases", "accounts"]) == ["leads", "accounts", "cases"]
    assert order_syncs(SYNCS, p, ["cases"]) == ["cases"]  # parents not named are not added
    assert groups(SYNCS, p, ["leads", "cases", "contacts", "accounts"]) == [
        ["leads"],
        ["accounts", "contacts", "cases"],
    ]


def test_a_cycle_names_its_syncs() -> None:
    syncs = {**SYNCS, "accounts": sync("Account", boss="Primary_Contact__r.External_Id__c")}
    with pytest.raises(ConfigError) as err:
        order_syncs(syncs, parents(syncs), ["contacts", "accounts"])
    assert "syncs 'accounts', 'contacts' look each other up in a cycle" in err.value.message
    assert "accounts (Account) → contacts (Contact) → accounts (Account)" in err.value.message


def test_parents_known_without_describe_when_named_after_a_synced_object() -> None:
    from sfsync.sync.order import known_parents

    objects = {"account", "contact", "case"}
    assert known_parents(SYNCS["cases"], objects) == {"contact", "account", "user"}
    assert known_parents(SYNCS["accounts"], objects) == set()
    # ReportsTo is not named after an object: its target needs the Contact describe
    assert known_parents(SYNCS["contacts"], objects) is None
    assert known_parents(sync("Account", x="Parent_Account__r.External_Id__c"), objects) is None
