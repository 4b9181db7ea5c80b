"""Org file sections ``queues``, ``assignment_rules`` and ``duplicate_rules`` (docs/emulator-org-file.md).

Like the rest of the org file, every problem is recorded with its key path instead of raised, so the
emulator lists them all at once.
"""

from __future__ import annotations

import re
from typing import Any

from sfsync.emulator.metadata.automation import (
    ASSIGNABLE_OBJECTS,
    ASSIGNMENT_RULE_PREFIX,
    AUTOMATION_OBJECTS,
    DEFAULT_ALERT_TEXT,
    DUPLICATE_ACTIONS,
    DUPLICATE_RULE_PREFIX,
    RULE_RECORD_OBJECTS,
    AssignmentEntry,
    AssignmentRuleDef,
    DuplicateRuleDef,
    MatchingRuleDef,
    automation_id,
)
from sfsync.emulator.metadata.model import OrgConfig, SObjectDef
from sfsync.emulator.metadata.orgfile_reader import UNSET, Section

_RULE_KEYS = ("name", "object", "active", "entries")
_ENTRY_KEYS = ("when", "owner", "queue")
_DUP_KEYS = ("object", "label", "active", "on_create", "on_edit", "alert_text", "match", "order")
_DEV_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


def apply_automation(root: Section, config: OrgConfig) -> None:
    """Read the two sections into ``config.automation`` (after users and queues: owners are checked)."""
    _apply_assignment_rules(root, config)
    _apply_duplicate_rules(root, config)


# ---- assignment rules --------------------------------------------------------------------------------
def _apply_assignment_rules(root: Section, config: OrgConfig) -> None:
    auto = config.automation
    for spec in root.entries("assignment_rules", _RULE_KEYS):
        name = spec.text("name", required=True)
        obj_name = spec.text("object", required=True)
        if not isinstance(name, str) or not isinstance(obj_name, str):
            continue
        obj = config.object(obj_name)
        if obj is None or obj.name not in ASSIGNABLE_OBJECTS:
            allowed = ", ".join(ASSIGNABLE_OBJECTS)
            spec.fail("object", f"assignment rules apply to {allowed}; got {obj_name!r}")
            continue
        active = spec.flag("active", True)
        if active and auto.active_assignment_rule(obj.name) is not None:
            spec.fail("active", f"{obj.name} already has an active assignment rule; only one can be active")
            continue
        entries = [e for e in (_entry(s, config, obj) for s in spec.entries("entries", _ENTRY_KEYS)) if e]
        if not entries:
            spec.fail("entries", "give at least one entry: {when: {Field: value}, owner: <username>}")
            continue
        # Account rules are territory rules: no AssignmentRule record, but an id all the same
        n = len(auto.assignment_rules) + 1
        auto.assignment_rules.append(
            AssignmentRuleDef(automation_id(ASSIGNMENT_RULE_PREFIX, n), name, obj.name, active, entries)
        )


def _entry(spec: Section, config: OrgConfig, obj: SObjectDef) -> AssignmentEntry | None:
    owner = spec.text("owner")
    queue = spec.text("queue")
    if isinstance(owner, str) == isinstance(queue, str):
        spec.fail("owner", "give exactly one of owner: <username> or queue: <queue name>")
        return None
    owner_id: str | None = None
    if isinstance(owner, str):
        user = config.user(owner)
        if user is None:
            spec.fail("owner", f"no user {owner!r}; add it under users")
        else:
            owner_id = user.id
    elif isinstance(queue, str):
        q = next(
            (q for q in config.queues if queue.lower() in (q.name.lower(), q.developer_name.lower())), None
        )
        if q is None:
            spec.fail("queue", f"no queue {queue!r}; add it under queues")
        elif obj.name not in RULE_RECORD_OBJECTS:
            spec.fail("queue", f"queues own Leads and Cases, not {obj.name} records; give an owner")
        else:
            owner_id = q.id
    criteria: dict[str, tuple[Any, ...]] = {}
    for field_name, value in spec.items("when", "field conditions (Field: value or [values])"):
        fd = obj.field(field_name)
        if fd is None:
            spec.fail("when", f"{obj.name} has no field {field_name!r}")
            continue
        values = value if isinstance(value, list) else [value]
        if not all(v is None or isinstance(v, str | int | float | bool) for v in values):
            spec.fail("when", f"{field_name}: give a value or a list of values")
            continue
        criteria[fd.name] = tuple(values)
    return AssignmentEntry(owner_id, criteria) if owner_id is not None else None


# ---- duplicate rules ---------------------------------------------------------------------------------
def _apply_duplicate_rules(root: Section, config: OrgConfig) -> None:
    auto = config.automation
    for name, raw in root.items("duplicate_rules", "duplicate rules (DeveloperName: settings)"):
        spec = root.child(f"duplicate_rules.{name}", raw, _DUP_KEYS)
        if spec is None:
            continue
        rule = auto.duplicate_rule(name)
        if rule is None:
            rule = _new_duplicate_rule(spec, name, config)
            if rule is None:
                continue
            auto.duplicate_rules.append(rule)
        elif "object" in spec.data and str(spec.data["object"]).lower() != rule.object.lower():
            spec.fail("object", f"{name} is a rule of {rule.object}; a rule cannot move to another object")
            continue
        _duplicate_settings(spec, rule, config)


def _new_duplicate_rule(spec: Section, name: str, config: OrgConfig) -> DuplicateRuleDef | None:
    if not _DEV_NAME.fullmatch(name):
        spec.problems.append((spec.path, "a rule name (DeveloperName) uses letters, digits and underscores"))
        return None
    obj_name = spec.text("object", required=True)
    if not isinstance(obj_name, str):
        return None
    obj = config.object(obj_name)
    if obj is None or obj.name in AUTOMATION_OBJECTS or obj.name in ("User", "Organization"):
        spec.fail("object", f"the org has no object {obj_name!r} that duplicate rules can watch")
        return None
    if "match" not in spec.data:
        spec.fail(
            "match", "a new rule needs match: [[Field, ...], ...] (a record matches on every field of a list)"
        )
        return None
    n = len(config.automation.duplicate_rules) + 1
    return DuplicateRuleDef(
        id=automation_id(DUPLICATE_RULE_PREFIX, n),
        developer_name=name,
        label=name.replace("_", " "),
        object=obj.name,
        active=True,
        matching=MatchingRuleDef(f"{name}_Matching_Rule", obj.name, []),
        alert_text=DEFAULT_ALERT_TEXT,
        sort_order=n,
    )


def _duplicate_settings(spec: Section, rule: DuplicateRuleDef, config: OrgConfig) -> None:
    label = spec.text("label")
    if isinstance(label, str):
        rule.label = label
    rule.active = spec.flag("active", rule.active)
    for key in ("on_create", "on_edit"):
        value = spec.text(key)
        if isinstance(value, str):
            if value not in DUPLICATE_ACTIONS:
                spec.fail(key, f"use one of {', '.join(DUPLICATE_ACTIONS)} (alert: allow with an alert)")
            else:
                setattr(rule, key, value)
    text = spec.text("alert_text")
    if isinstance(text, str):
        rule.alert_text = text
    order = spec.number("order", rule.sort_order, integer=True, low=1)
    rule.sort_order = order if isinstance(order, int) else rule.sort_order
    if "match" in spec.data:
        obj = config.object(rule.object)
        assert obj is not None
        conditions = _conditions(spec, obj)
        if conditions:
            rule.matching = MatchingRuleDef(rule.matching.developer_name, obj.name, conditions)


def _conditions(spec: Section, obj: SObjectDef) -> list[tuple[str, ...]]:
    raw = spec.get("match", list, "a list of field lists, like [[Email], [FirstName, LastName, Phone]]")
    if not isinstance(raw, list) or not raw:
        if raw is not UNSET:
            spec.fail("match", "give at least one list of fields")
        return []
    out: list[tuple[str, ...]] = []
    for group in raw:
        names = group if isinstance(group, list) else [group]
        fields: list[str] = []
        for name in names:
            if obj.name == "Contact" and str(name).lower() == "account.name":
                fields.append("Account.Name")
                continue
            fd = obj.field(str(name))
            if fd is None or fd.type in ("address", "location", "id", "base64"):
                spec.fail("match", f"{obj.name} has no field {name!r} a matching rule can compare")
                return []
            fields.append(fd.name)
        if fields:
            out.append(tuple(fields))
    return out


__all__ = ["apply_automation"]
