"""What a request asks of the org's automation: REST headers and a Bulk job's ``assignmentRuleId``.

- ``Sforce-Auto-Assign`` (https://developer.salesforce.com/docs/platform/api-rest/guide/headers-autoassign.html):
  absent or ``TRUE`` runs the active assignment rules on created *and updated* Accounts, Cases and Leads;
  ``FALSE`` runs none; an AssignmentRule id runs that rule. ``TRUE``/``FALSE`` ignore case.
- ``Sforce-Duplicate-Rule-Header: allowSave=true; includeRecordDetails=true; runAsCurrentUser=true``
  (https://developer.salesforce.com/docs/platform/api-rest/guide/headers-duplicaterules.html): API
  52.0 and later, every field false by default. ``runAsCurrentUser`` is accepted and changes nothing
  here: the emulator has no sharing rules.
- Bulk API 2.0 has neither header: duplicate rules run as if nothing allowed saving, and assignment runs
  only when the job names a rule (``assignmentRuleId``, API 49.0+, Case and Lead jobs;
  https://developer.salesforce.com/docs/platform/api-asynch/guide/create-job.html).

The Bulk API 2.0 documentation says nothing about duplicate rules. Loads from real orgs report
``DUPLICATES_DETECTED:Use one of these records?:--`` in Bulk failed results for rules whose action is
"Allow" with an alert (Census's Salesforce troubleshooting notes; Jetstream issue #482), so the emulator
refuses those rows: a Bulk job cannot say allowSave.
"""

from __future__ import annotations

from typing import Any

from sfsync.emulator.endpoints.wire import Call
from sfsync.emulator.metadata import ids
from sfsync.emulator.metadata.automation import RULE_RECORD_OBJECTS
from sfsync.emulator.records.org import OrgError
from sfsync.emulator.records.write_rules import ACTIVE_RULE, BULK_DEFAULT, WriteRules

AUTO_ASSIGN_HEADER = "Sforce-Auto-Assign"
DUPLICATE_RULE_HEADER = "Sforce-Duplicate-Rule-Header"
#: First API version that reads ``Sforce-Duplicate-Rule-Header``.
DUPLICATE_HEADER_VERSION = 52.0
#: First API version whose ingest jobs take ``assignmentRuleId``.
ASSIGNMENT_RULE_JOB_VERSION = 49.0


def _flag(value: str) -> bool:
    return value.strip().lower() == "true"


def duplicate_options(call: Call) -> dict[str, bool]:
    """``allowSave``, ``includeRecordDetails``, ``runAsCurrentUser`` from the header (all false if absent)."""
    out = {"allowsave": False, "includerecorddetails": False, "runascurrentuser": False}
    raw = call.request.headers.get(DUPLICATE_RULE_HEADER)
    if raw is None or float(call.version) < DUPLICATE_HEADER_VERSION:
        return out
    for part in raw.replace(",", ";").split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip().lower() in out:
            out[key.strip().lower()] = _flag(value)
    return out


def assignment_option(call: Call) -> str | None:
    """The ``WriteRules.assignment`` a REST request asks for; a bad rule id is 400 ``MALFORMED_ID``."""
    raw = call.request.headers.get(AUTO_ASSIGN_HEADER)
    if raw is None or raw.strip().lower() == "true":
        return ACTIVE_RULE
    if raw.strip().lower() == "false":
        return None
    rule_id = ids.normalize(raw.strip())
    if rule_id is None or call.rt.config.automation.assignment_rule(rule_id) is None:
        raise OrgError(
            400,
            "MALFORMED_ID",
            f"{AUTO_ASSIGN_HEADER}: {raw.strip()!r} is neither TRUE, FALSE nor the id of an assignment rule",
        )
    return rule_id


def rest_rules(call: Call) -> WriteRules:
    """What a REST write (sObject rows, upsert by external id, Collections) asks of the automation."""
    dup = duplicate_options(call)
    return WriteRules(
        assignment=assignment_option(call),
        allow_save=dup["allowsave"],
        include_record_details=dup["includerecorddetails"],
    )


def bulk_assignment_rule(call: Call, object_name: str, body: dict[str, Any]) -> str | None:
    """The 18-char ``assignmentRuleId`` of a job being created (None when absent); 400 when it does not
    name an assignment rule of the job's object."""
    raw = body.get("assignmentRuleId")
    if raw in (None, ""):
        return None
    if float(call.version) < ASSIGNMENT_RULE_JOB_VERSION:
        raise OrgError(400, "INVALIDJOB", "InvalidJob : assignmentRuleId needs API version 49.0 or later")
    if object_name not in RULE_RECORD_OBJECTS:
        raise OrgError(
            400,
            "INVALIDJOB",
            f"InvalidJob : assignmentRuleId applies to {' and '.join(RULE_RECORD_OBJECTS)} jobs, "
            f"not {object_name}",
        )
    rule_id = ids.normalize(str(raw))
    rule = call.rt.config.automation.assignment_rule(rule_id) if rule_id else None
    if rule is None or rule.object != object_name:
        raise OrgError(
            400, "INVALIDJOB", f"InvalidJob : {raw!r} is not the id of an assignment rule of {object_name}"
        )
    return rule.id


def bulk_rules(rule_id: str | None) -> WriteRules:
    return WriteRules(assignment=rule_id) if rule_id else BULK_DEFAULT


def duplicate_error_body(call: Call, obj: str, error: Any, rules: WriteRules) -> list[dict[str, Any]]:
    """The 400 body of a single-record REST save refused by a duplicate rule.

    Shape recorded from a real org (API 51.0, a REST-assured test asserting
    ``[0].duplicateResut.duplicateRule == "Standard_Lead_Duplicate_Rule"``): Salesforce spells the key
    ``duplicateResut``. Matched records carry only their Id unless ``includeRecordDetails=true``."""
    match = error.detail
    rule = match.rule
    fields = (
        ["Id", *(f for f in rule.matching.fields if "." not in f)] if rules.include_record_details else None
    )
    records = []
    for rid in match.record_ids:
        if fields is None:
            records.append(
                {"attributes": {"type": obj, "url": f"{call.prefix}/sobjects/{obj}/{rid}"}, "Id": rid}
            )
        else:
            records.append(call.rt.org.get(obj, rid, fields, call.version))
    result = {
        "allowSave": rule.on_create != "block",
        "duplicateRule": rule.developer_name,
        "duplicateRuleEntityType": obj,
        "errorMessage": rule.alert_text,
        "matchResults": [
            {
                "entityType": obj,
                "errors": [],
                "matchEngine": "ExactMatchEngine",
                "matchRecords": [
                    {"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0, "record": r}
                    for r in records
                ],
                "rule": rule.matching.developer_name,
                "size": len(records),
                "success": True,
            }
        ],
    }
    return [{"duplicateResut": result, "errorCode": error.status_code, "message": error.message}]


__all__ = [
    "AUTO_ASSIGN_HEADER",
    "DUPLICATE_RULE_HEADER",
    "assignment_option",
    "bulk_assignment_rule",
    "bulk_rules",
    "duplicate_error_body",
    "duplicate_options",
    "rest_rules",
]
