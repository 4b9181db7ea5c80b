"""What a write asks of the org's own automation (assignment rules, duplicate rules), and how to read
which of those rules are active.

REST (sObject Collections) says it with two request headers:

- ``Sforce-Auto-Assign``: ``TRUE`` runs the active assignment rules on created *and updated* Accounts,
  Cases and Leads, ``FALSE`` runs none, an AssignmentRule id runs that rule; **without the header a
  REST write runs the active rules** (https://developer.salesforce.com/docs/platform/api-rest/guide/headers-autoassign.html);
- ``Sforce-Duplicate-Rule-Header: allowSave=true|false`` (API 52.0+): whether records that duplicate
  rules only *alert* about may be saved; false by default
  (https://developer.salesforce.com/docs/platform/api-rest/guide/headers-duplicaterules.html).

Bulk API 2.0 has only the job's ``assignmentRuleId`` (Case and Lead jobs; no rule runs without it:
https://developer.salesforce.com/docs/platform/api-asynch/guide/create-job.html) and no way to allow
saving duplicates. The client therefore always says what it wants, so the same rows end the same way
through either API (the sync layer reconciles what Bulk cannot say).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sfsync.salesforce import query as _query
from sfsync.salesforce.names import check_api_name
from sfsync.salesforce.transport import Transport

AUTO_ASSIGN_HEADER = "Sforce-Auto-Assign"
DUPLICATE_RULE_HEADER = "Sforce-Duplicate-Rule-Header"
#: Objects whose AssignmentRule records exist (what a Bulk job's ``assignmentRuleId`` can name).
RULE_RECORD_OBJECTS = ("Case", "Lead")
#: Objects the ``Sforce-Auto-Assign`` header acts on (Account: territory assignment rules).
ASSIGNABLE_OBJECTS = ("Account", "Case", "Lead")

Assignment = Literal["none", "default"] | str


@dataclass(frozen=True)
class SaveOptions:
    """``assignment``: ``none``, ``default`` (the object's active rule) or an AssignmentRule id.
    ``allow_save``: save records that duplicate rules only alert about (block rules still refuse)."""

    assignment: Assignment = "none"
    allow_save: bool = False

    def rest_headers(self) -> dict[str, str]:
        """The headers that say exactly this on every REST write (never the org's defaults)."""
        assign = {"none": "FALSE", "default": "TRUE"}.get(self.assignment, self.assignment)
        return {
            AUTO_ASSIGN_HEADER: assign,
            DUPLICATE_RULE_HEADER: f"allowSave={'true' if self.allow_save else 'false'}",
        }


@dataclass(frozen=True)
class RuleInfo:
    """An active rule as the org lists it."""

    id: str
    name: str
    object: str


def active_assignment_rule(transport: Transport, object_name: str) -> RuleInfo | None:
    """The active AssignmentRule of a Case or Lead (None when it has none, or for other objects)."""
    if object_name not in RULE_RECORD_OBJECTS:
        return None
    soql = (
        f"SELECT Id, Name, SobjectType FROM AssignmentRule WHERE SobjectType = '{object_name}' "
        "AND Active = true LIMIT 1"
    )
    for rec in _query.iter_query(transport, soql):
        return RuleInfo(str(rec["Id"]), str(rec.get("Name") or ""), object_name)
    return None


def active_duplicate_rules(transport: Transport, object_name: str) -> list[RuleInfo]:
    """The org's active duplicate rules of ``object_name`` (object reference: DuplicateRule; reading it
    needs the "View Setup and Configuration" permission)."""
    name = check_api_name(object_name, "object")
    soql = (
        "SELECT Id, DeveloperName, MasterLabel, SobjectType FROM DuplicateRule "
        f"WHERE IsActive = true AND SobjectType = '{name}' ORDER BY DeveloperName"
    )
    return [
        RuleInfo(str(r["Id"]), str(r.get("DeveloperName") or r.get("MasterLabel") or ""), name)
        for r in _query.iter_query(transport, soql)
    ]


__all__ = [
    "ASSIGNABLE_OBJECTS",
    "AUTO_ASSIGN_HEADER",
    "DUPLICATE_RULE_HEADER",
    "RULE_RECORD_OBJECTS",
    "RuleInfo",
    "SaveOptions",
    "active_assignment_rule",
    "active_duplicate_rules",
]
