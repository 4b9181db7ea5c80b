"""What one write asks of the org's automation, and the record values rules are evaluated on.

The HTTP layer builds :class:`WriteRules` from the request (REST headers ``Sforce-Auto-Assign`` and
``Sforce-Duplicate-Rule-Header``, or a Bulk job's ``assignmentRuleId``); the record engine applies
assignment rules and duplicate rules accordingly. Callers of the engine itself (tests seeding data, the
demo) pass no rules: their writes are data loads that no automation sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sfsync.emulator.records.pending import Pending, json_list
from sfsync.emulator.records.store import Store, Table, quote

#: ``WriteRules.assignment`` value: run the object's active assignment rule.
ACTIVE_RULE = "active"


@dataclass(frozen=True)
class WriteRules:
    """``assignment``: None (no assignment rule), :data:`ACTIVE_RULE`, or the id of one AssignmentRule.
    ``allow_save``: save records that only *alert* duplicate rules match (Block rules still refuse).
    ``include_record_details``: duplicate errors carry the matching records' fields, not only their ids.
    """

    assignment: str | None = None
    allow_save: bool = False
    include_record_details: bool = False


#: What a REST write gets when it sends neither header (Salesforce's defaults).
REST_DEFAULT = WriteRules(assignment=ACTIVE_RULE)
#: What a Bulk API 2.0 job gets without ``assignmentRuleId`` (duplicate rules run, nothing allows saving).
BULK_DEFAULT = WriteRules()


def record_values(
    store: Store,
    table: Table,
    items: Sequence[Pending],
    fields: Iterable[str],
    defaults: dict[str, Any] | None = None,
) -> dict[int, dict[str, Any]]:
    """The values rules see for each item (by ``id(item)``): the stored record's ``fields`` overlaid with
    what the request sets. New records see what the request sets over ``defaults`` (what a create gets
    for the fields it leaves out)."""
    names = [f for f in dict.fromkeys(fields) if table.has(f)]
    stored: dict[str, dict[str, Any]] = {}
    updates = [p for p in items if not p.created and p.id]
    if names and updates:
        cols = ", ".join(quote(table.codecs[n.lower()].field.name) for n in names)
        sql = f"SELECT Id, {cols} FROM {table.sql} WHERE Id IN (SELECT value FROM json_each(?))"
        for row in store.conn.execute(sql, (json_list(p.id for p in updates),)):
            stored[row[0]] = dict(zip(names, row[1:], strict=True))
    out: dict[int, dict[str, Any]] = {}
    for p in items:
        if p.created:
            base = {n: defaults[n] for n in names if defaults and n in defaults}
        else:
            base = dict(stored.get(p.id or "", {}))
        for name in names:
            exact = table.codecs[name.lower()].field.name
            if exact in p.values:
                base[name] = p.values[exact]
        out[id(p)] = base
    return out


__all__ = ["ACTIVE_RULE", "BULK_DEFAULT", "REST_DEFAULT", "WriteRules", "record_values"]
