"""What a real org runs on every save besides field rules: queues, assignment rules and duplicate rules.

These are the org's *automation* metadata; ``records/assignment.py`` and ``records/duplicates.py`` apply
them to writes, and the org file (``orgfile_automation.py``) adds, changes or deactivates them.

A new org ships three active duplicate rules (Salesforce Help, "Standard Account Duplicate Rule" and the
standard contact and lead rules, https://help.salesforce.com/s/articleView?id=sf.duplicate_rules_standard_rules.htm):
on create they *allow with an alert* ("Use one of these records?"), on edit they only report. Each uses
the standard matching rule of its object; the matching equations below are the ones Salesforce Help
documents ("Standard Contact Matching Rule and Standard Lead Matching Rule",
https://help.salesforce.com/s/articleView?id=sf.matching_rules_standard_contact_rule.htm, and
"Standard Account Matching Rule", .../articleView?id=sf.matching_rules_standard_account_rule.htm). The
emulator compares each field exactly after normalising it (case, spacing, phone digits); the real rules
add fuzzy comparisons on top (first-name variants, keyboard distance), so a real org finds *more*
duplicates than the emulator, never fewer.

The records the API can read about this metadata are seeded into two read-only objects:
``AssignmentRule`` (``SobjectType`` Case or Lead) and ``DuplicateRule``
(object reference: https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-duplicaterule.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sfsync.emulator.metadata.fieldkit import fields_by_name, fld, system_fields
from sfsync.emulator.metadata.ids import IdFactory
from sfsync.emulator.metadata.model import SObjectDef

if TYPE_CHECKING:
    from sfsync.emulator.metadata.model import OrgConfig

#: Pod part of the ids of seeded automation records (stable across runs, like the seeded users).
AUTOMATION_POD = "8d"
ASSIGNMENT_RULE_PREFIX = "01Q"
DUPLICATE_RULE_PREFIX = "0Bm"

#: Objects whose records are seeded from :class:`Automation` (and survive a reset).
AUTOMATION_OBJECTS = ("AssignmentRule", "DuplicateRule")
#: Objects assignment rules apply to: AssignmentRule records exist for Case and Lead; Account rules are
#: the territory rules the REST header also runs (headers-autoassign.html).
ASSIGNABLE_OBJECTS = ("Account", "Case", "Lead")
#: Objects an AssignmentRule record (and a Bulk job's ``assignmentRuleId``) can name; queues own only these.
RULE_RECORD_OBJECTS = ("Case", "Lead")

#: What a duplicate rule does on create or on edit when a record matches.
#: ``alert``: Salesforce's "Allow" with the Alert operation: the UI asks, the API refuses with
#: DUPLICATES_DETECTED unless the request allows saving; ``block``: always refused; ``allow``: saved
#: (the Report operation only).
DUPLICATE_ACTIONS = ("alert", "block", "allow")
STANDARD_ALERT_TEXT = "Use one of these records?"
DEFAULT_ALERT_TEXT = "You're creating a duplicate record. We recommend you use an existing record instead."


def automation_id(prefix: str, n: int) -> str:
    return IdFactory(prefix, pod=AUTOMATION_POD).make(n)


@dataclass
class AssignmentEntry:
    """One rule entry: when every criterion matches (field → accepted values), the owner becomes
    ``owner_id``. No criteria: matches every record."""

    owner_id: str
    criteria: dict[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass
class AssignmentRuleDef:
    id: str
    name: str
    object: str
    active: bool
    entries: list[AssignmentEntry] = field(default_factory=list)


@dataclass
class MatchingRuleDef:
    """Duplicates match when every field of at least one condition matches (an OR of ANDs).

    A field is an API name of the object, or ``Account.Name`` (a Contact's company name)."""

    developer_name: str
    object: str
    conditions: list[tuple[str, ...]]

    @property
    def fields(self) -> list[str]:
        return list(dict.fromkeys(f for c in self.conditions for f in c))


@dataclass
class DuplicateRuleDef:
    id: str
    developer_name: str
    label: str
    object: str
    active: bool
    matching: MatchingRuleDef
    on_create: str = "alert"  # one of DUPLICATE_ACTIONS
    on_edit: str = "allow"
    alert_text: str = DEFAULT_ALERT_TEXT
    sort_order: int = 1


@dataclass
class Automation:
    """The org's assignment and duplicate rules (its queues are ``OrgConfig.queues``)."""

    assignment_rules: list[AssignmentRuleDef] = field(default_factory=list)
    duplicate_rules: list[DuplicateRuleDef] = field(default_factory=lambda: standard_duplicate_rules())

    def active_assignment_rule(self, obj: str) -> AssignmentRuleDef | None:
        low = obj.lower()
        return next((r for r in self.assignment_rules if r.active and r.object.lower() == low), None)

    def assignment_rule(self, rule_id: str) -> AssignmentRuleDef | None:
        return next((r for r in self.assignment_rules if r.id[:15] == rule_id[:15]), None)

    def duplicate_rules_for(self, obj: str) -> list[DuplicateRuleDef]:
        """The active duplicate rules of ``obj``, in the order they run."""
        low = obj.lower()
        rules = [r for r in self.duplicate_rules if r.active and r.object.lower() == low]
        return sorted(rules, key=lambda r: r.sort_order)

    def duplicate_rule(self, name: str) -> DuplicateRuleDef | None:
        low = name.lower()
        return next((r for r in self.duplicate_rules if r.developer_name.lower() == low), None)


def _person_conditions(company: str, street: str, city: str, postal: str) -> list[tuple[str, ...]]:
    """The standard contact/lead matching equation, with ``Mailing Street AND (City OR ZIP OR Phone)``
    spread into three conditions."""
    name = ("FirstName", "LastName")
    return [
        (*name, "Title", company),
        (*name, "Email"),
        (*name, "Phone", company),
        (*name, street, city),
        (*name, street, postal),
        (*name, street, "Phone"),
        (*name, street, "Title"),
        (*name, "Title", "Email"),
        (*name, "Phone"),
    ]


def standard_duplicate_rules() -> list[DuplicateRuleDef]:
    """The three duplicate rules every new org has, active: allow with an alert on create, report on edit."""
    account = MatchingRuleDef(
        "Standard_Account_Match_Rule_v1_0",
        "Account",
        [("Name", "BillingStreet"), ("Name", "BillingCity", "BillingPostalCode"), ("Name", "Phone")],
    )
    contact = MatchingRuleDef(
        "Standard_Contact_Match_Rule_v1_1",
        "Contact",
        _person_conditions("Account.Name", "MailingStreet", "MailingCity", "MailingPostalCode"),
    )
    lead = MatchingRuleDef(
        "Standard_Lead_Match_Rule_v1_0", "Lead", _person_conditions("Company", "Street", "City", "PostalCode")
    )
    return [
        DuplicateRuleDef(
            id=automation_id(DUPLICATE_RULE_PREFIX, n),
            developer_name=f"Standard_{m.object}_Duplicate_Rule",
            label=f"Standard {m.object} Duplicate Rule",
            object=m.object,
            active=True,
            matching=m,
            on_create="alert",
            on_edit="allow",
            alert_text=STANDARD_ALERT_TEXT,
        )
        for n, m in enumerate((account, contact, lead), start=1)
    ]


# ---- the objects the API reads this metadata through ----------------------------------------------


def _read_only(name: str, prefix: str, plural: str, fields: list[Any]) -> SObjectDef:
    return SObjectDef(
        name=name,
        key_prefix=prefix,
        label=name,
        label_plural=plural,
        createable=False,
        updateable=False,
        deletable=False,
        fields=fields_by_name(fields),
    )


def assignment_rule_object() -> SObjectDef:
    return _read_only(
        "AssignmentRule",
        ASSIGNMENT_RULE_PREFIX,
        "Assignment Rules",
        [
            *system_fields("Assignment Rule ID"),
            fld("Name", "string", 120, "ro name", label="Name"),
            fld("SobjectType", "picklist", 40, "ro restrict", values=RULE_RECORD_OBJECTS, label="Object"),
            fld("Active", "boolean", 0, "ro", label="Active"),
        ],
    )


def duplicate_rule_object() -> SObjectDef:
    return _read_only(
        "DuplicateRule",
        DUPLICATE_RULE_PREFIX,
        "Duplicate Rules",
        [
            *system_fields("Duplicate Rule ID"),
            fld("DeveloperName", "string", 80, "ro", label="Object Name"),
            fld("MasterLabel", "string", 80, "ro name", label="Rule Name"),
            fld("SobjectType", "string", 40, "ro", label="Custom Object Definition ID"),
            fld("SobjectSubtype", "string", 255, "ro", label="Object Subtype"),
            fld("IsActive", "boolean", 0, "ro", label="Active"),
            fld("Language", "string", 40, "ro", label="Master Language"),
            fld("NamespacePrefix", "string", 15, "ro", label="Namespace Prefix"),
            fld("LastViewedDate", "datetime", 0, "ro", label="Last Viewed Date"),
        ],
    )


def add_automation_objects(config: OrgConfig) -> None:
    """Add AssignmentRule and DuplicateRule to the org (each only when the org lacks it)."""
    for make in (assignment_rule_object, duplicate_rule_object):
        obj = make()
        if config.object(obj.name) is None:
            config.objects[obj.name] = obj


def seed_rows(config: OrgConfig) -> dict[str, list[dict[str, Any]]]:
    """The records of the automation objects, by object name (the record engine writes them)."""
    auto = config.automation
    return {
        "AssignmentRule": [
            {"Id": r.id, "Name": r.name, "SobjectType": r.object, "Active": 1 if r.active else 0}
            for r in auto.assignment_rules
            if r.object in RULE_RECORD_OBJECTS
        ],
        "DuplicateRule": [
            {
                "Id": r.id,
                "DeveloperName": r.developer_name,
                "MasterLabel": r.label,
                "SobjectType": r.object,
                "IsActive": 1 if r.active else 0,
                "Language": "en_US",
            }
            for r in auto.duplicate_rules
        ],
    }


__all__ = [
    "ASSIGNABLE_OBJECTS",
    "AUTOMATION_OBJECTS",
    "DUPLICATE_ACTIONS",
    "RULE_RECORD_OBJECTS",
    "AssignmentEntry",
    "AssignmentRuleDef",
    "Automation",
    "DuplicateRuleDef",
    "MatchingRuleDef",
    "add_automation_objects",
    "automation_id",
    "seed_rows",
    "standard_duplicate_rules",
]
