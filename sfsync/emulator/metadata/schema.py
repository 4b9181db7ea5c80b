"""The default emulated org: standard objects, the admin user, one queue and the demo connected app.

``default_org()`` returns a fresh ``OrgConfig`` every call, so callers may mutate it (``orgfile`` adds
fields, objects and users to it). Ids here are stable across runs: the record engine seeds the User and
Organization records from them.
"""

from __future__ import annotations

from collections.abc import Collection

from sfsync.emulator.metadata.automation import add_automation_objects
from sfsync.emulator.metadata.fieldkit import fields_by_name, fld, system_fields
from sfsync.emulator.metadata.ids import IdFactory
from sfsync.emulator.metadata.model import AppDef, OrgConfig, QueueDef, SObjectDef, UserDef
from sfsync.emulator.metadata.setup_objects import SETUP_OBJECTS
from sfsync.emulator.metadata.standard_objects import STANDARD_OBJECTS

#: Pod part of every id the default org mints for its seeded users and the org itself.
SEED_POD = "8d"
#: The org id: 18 characters, prefix 00D.
DEFAULT_ORG_ID = IdFactory("00D", pod=SEED_POD).make(1)
DEFAULT_USERNAME = "admin@example.com"
DEFAULT_PASSWORD = "sfsync-demo"
DEFAULT_CLIENT_ID = "sfsync-demo-client"
DEFAULT_CLIENT_SECRET = "sfsync-demo-secret"
#: Key prefixes of custom objects are allocated from here upward: a00, a01, ..., a0Z, a0a, ..., a10, ...
FIRST_CUSTOM_PREFIX = "a00"

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def user_id(n: int) -> str:
    """The id of the n-th seeded user (1-based): ``005`` + pod + sequence, 18 characters."""
    return IdFactory("005", pod=SEED_POD).make(n)


def queue_id(n: int) -> str:
    """The id of the n-th seeded queue (1-based): a Group id, ``00G`` + pod + sequence."""
    return IdFactory("00G", pod=SEED_POD).make(n)


#: The admin user's id.
DEFAULT_USER_ID = user_id(1)
#: The queue every default org has (a Group of Type Queue that can own Leads and Cases).
DEFAULT_QUEUE_ID = queue_id(1)
DEFAULT_QUEUE_NAME = "Triage Queue"
DEFAULT_QUEUE_DEVELOPER_NAME = "Triage_Queue"


def default_org() -> OrgConfig:
    """A new default org: User, Organization, Group, RecordType, AssignmentRule, DuplicateRule, Account,
    Contact, Lead, Case, Contract; one admin user (``admin@example.com`` / ``sfsync-demo``, no security
    token), one queue (``Triage Queue``), the standard duplicate rules and the demo connected app."""
    objects = {o.name: o for o in (make() for make in (*STANDARD_OBJECTS, *SETUP_OBJECTS))}
    config = OrgConfig(
        org_id=DEFAULT_ORG_ID,
        objects=objects,
        users=[
            UserDef(
                id=DEFAULT_USER_ID,
                username=DEFAULT_USERNAME,
                password=DEFAULT_PASSWORD,
                email=DEFAULT_USERNAME,
                first_name="Admin",
                last_name="User",
            ),
        ],
        queues=[
            QueueDef(
                id=DEFAULT_QUEUE_ID, name=DEFAULT_QUEUE_NAME, developer_name=DEFAULT_QUEUE_DEVELOPER_NAME
            )
        ],
        apps=[
            AppDef(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, run_as=DEFAULT_USERNAME)
        ],
    )
    add_automation_objects(config)  # AssignmentRule, DuplicateRule
    return config


def custom_object(
    name: str,
    key_prefix: str,
    *,
    label: str | None = None,
    label_plural: str | None = None,
    name_label: str | None = None,
) -> SObjectDef:
    """A new custom object (``Foo__c``) with what Salesforce gives every one: system fields, a text
    ``Name`` (80, the name field, idLookup), ``OwnerId`` defaulted to the running user and the
    recent-view dates. ``Name`` is defaulted on create: a real org names a record created without
    one after its own Id (the record engine does the same)."""
    if not name.endswith("__c"):
        raise ValueError(f"a custom object's API name ends with __c: {name!r}")
    base_label = label or name[:-3].replace("_", " ")
    fields = [
        *system_fields("Record ID"),
        fld("Name", "string", 80, "req def name idl", label=name_label or f"{base_label} Name"),
        fld("OwnerId", "reference", 18, "req def", ref="User", rel="Owner", label="Owner ID"),
        fld("LastViewedDate", "datetime", 0, "ro"),
        fld("LastReferencedDate", "datetime", 0, "ro"),
    ]
    return SObjectDef(
        name=name,
        key_prefix=key_prefix,
        label=base_label,
        label_plural=label_plural or f"{base_label}s",
        custom=True,
        fields=fields_by_name(fields),
    )


def next_custom_prefix(config: OrgConfig, reserved: Collection[str] = ()) -> str:
    """The lowest key prefix at or above ``a00`` (three base-62 characters) that no object of ``config``
    uses and that is not ``reserved`` (prefixes an org file asks for explicitly)."""
    used = {o.key_prefix for o in config.objects.values()} | set(reserved)
    n = _BASE62.index(FIRST_CUSTOM_PREFIX[0]) * 62 * 62
    while True:
        prefix = _BASE62[n // (62 * 62)] + _BASE62[(n // 62) % 62] + _BASE62[n % 62]
        if prefix not in used:
            return prefix
        n += 1
