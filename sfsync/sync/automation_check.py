"""What ``check`` says about a sync's ``assignment_rules`` and ``duplicate_rules`` settings.

:func:`automation_problems` needs no org: settings that cannot work (an assignment rule on an object
that has none; a rule id on an Account; Account rules forced through Bulk, which cannot run them).
:func:`automation_warnings` reads the org's active rules (SOQL on DuplicateRule and AssignmentRule) and
warns before a run what they will do to the sync's rows. Warnings never fail ``check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sfsync.config.mappings import OWNER_FIELD, ConstantTarget, FieldTarget, LookupTarget, OwnerTarget
from sfsync.config.project import ASSIGNMENT_CHOICES, Sync
from sfsync.errors import SalesforceError
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.automation import ASSIGNABLE_OBJECTS, RULE_RECORD_OBJECTS

#: Modes whose rows create records, which the standard duplicate rules check.
CREATING_MODES = ("insert", "upsert")


@dataclass(frozen=True)
class OrgRules:
    """The org's active rules for one object; ``error`` when they could not be read."""

    duplicate_rules: list[str] = field(default_factory=list)
    assignment_rule: str | None = None
    error: str | None = None


@runtime_checkable
class AutomationAccess(Protocol):
    """An org access that can also list active rules (``sfsync.sync.connect.ProjectOrgs``)."""

    def active_rules(self, destination: str, object_name: str) -> OrgRules:
        """The active duplicate rules and assignment rule of ``object_name``."""


def automation_problems(sync: Sync, object_name: str) -> list[tuple[str, str]]:
    """(message, hint) for each setting that cannot work on ``object_name``."""
    out: list[tuple[str, str]] = []
    assignment = sync.assignment_rules
    if assignment == "none":
        return out
    if object_name not in ASSIGNABLE_OBJECTS:
        out.append(
            (
                f"assignment_rules: {assignment} — {object_name} has no assignment rules "
                f"(Salesforce runs them on {', '.join(ASSIGNABLE_OBJECTS)})",
                "remove assignment_rules (or set it to none)",
            )
        )
    elif assignment not in ASSIGNMENT_CHOICES and object_name not in RULE_RECORD_OBJECTS:
        out.append(
            (
                f"assignment_rules: {assignment} — an assignment rule id names a "
                f"{' or '.join(RULE_RECORD_OBJECTS)} rule, not an {object_name} one",
                "use default (the object's active rules) or none",
            )
        )
    elif object_name not in RULE_RECORD_OBJECTS and sync.api == "bulk":
        out.append(
            (
                f"assignment_rules: {assignment} with api: bulk — Bulk API 2.0 cannot run {object_name} "
                "assignment rules (its jobs name Case and Lead rules only)",
                "set api: auto or rest (sfsync then sends this sync through REST), or assignment_rules: none",
            )
        )
    return out


def maps_owner(sync: Sync) -> bool:
    """Whether the sync sets OwnerId (a field, an owner lookup, a ``{owner: ...}`` column or a constant)."""
    owner = OWNER_FIELD.lower()
    for e in sync.entries:
        t = e.target
        if isinstance(t, OwnerTarget):
            return True
        if isinstance(t, FieldTarget) and t.field.lower() == owner:
            return True
        if isinstance(t, ConstantTarget) and e.key.lower() == owner:
            return True
        if isinstance(t, LookupTarget) and (
            (t.field or "").lower() == owner or (t.relationship or "").lower() == "owner"
        ):
            return True
    return False


def automation_warnings(sync: Sync, object_name: str, rules: OrgRules) -> list[str]:
    """What the org's active rules will do to this sync's rows, before it runs."""
    out: list[str] = []
    if sync.assignment_rules != "none" and object_name in ASSIGNABLE_OBJECTS and maps_owner(sync):
        out.append(
            f"the sync maps {object_name}.OwnerId and sets assignment_rules: {sync.assignment_rules}: "
            "where a rule entry matches, the rule's owner replaces the one sent"
        )
    if rules.error is not None:
        return [*out, f"could not read the org's duplicate and assignment rules: {rules.error}"]
    if rules.duplicate_rules and sync.duplicate_rules == "enforce" and sync.mode in CREATING_MODES:
        names = ", ".join(rules.duplicate_rules)
        out.append(
            f"{object_name} has {len(rules.duplicate_rules)} active duplicate rule(s) ({names}): new rows "
            "that look like an existing record will be rejected with DUPLICATES_DETECTED; set "
            "duplicate_rules: allow_save to save them past rules that only alert (rules that block still "
            "refuse)"
        )
    if (
        sync.assignment_rules == "default"
        and object_name in RULE_RECORD_OBJECTS
        and not rules.assignment_rule
    ):
        out.append(
            f"assignment_rules: default, but {object_name} has no active assignment rule: owners stay as sent"
        )
    return out


def read_rules(client: SalesforceClient, object_name: str) -> OrgRules:
    """The org's active rules through a SalesforceClient; a refusal (no permission to read DuplicateRule)
    becomes ``error``."""
    try:
        duplicates = [r.name for r in client.active_duplicate_rules(object_name)]
        assignment = client.active_assignment_rule(object_name)
    except SalesforceError as exc:
        return OrgRules(error=exc.message)
    return OrgRules(duplicates, assignment.name if assignment is not None else None)


__all__ = [
    "AutomationAccess",
    "OrgRules",
    "automation_problems",
    "automation_warnings",
    "maps_owner",
    "read_rules",
]
