"""Assignment rules on writes: a rule's first matching entry sets the record's owner (a user or a queue).

When they run (the HTTP layer decides, see ``write_rules.WriteRules``):

- REST API: on every create and update of an Account, Case or Lead unless the request says
  ``Sforce-Auto-Assign: FALSE``; ``TRUE`` or no header runs the object's active rule, a rule id runs that
  rule (https://developer.salesforce.com/docs/platform/api-rest/guide/headers-autoassign.html: "If the
  header is not provided with a request, REST API defaults to using the active assignment rules").
  A rule id applies on updates as on creates, and may name an inactive rule: the SOAP API's
  AssignmentRuleHeader page, which the REST header mirrors (docs/salesforce-facts.md#assignment-rules).
- Bulk API 2.0: only when the job names a rule (``assignmentRuleId``, Case and Lead jobs,
  https://developer.salesforce.com/docs/platform/api-asynch/guide/create-job.html).

Entries are tried in order; an entry matches when each of its criteria holds on the record as saved (the
stored values overlaid with the request's): the field's value is one of the listed values (text compared
without case; ``null`` matches an empty field). No entry matches: the owner stays as it is. The rule wins
over an ``OwnerId`` the request sets, as in a real org, where assignment runs after the save.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sfsync.emulator.metadata.automation import AssignmentEntry, AssignmentRuleDef
from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.records.pending import Pending
from sfsync.emulator.records.store import Store, Table
from sfsync.emulator.records.write_rules import ACTIVE_RULE, WriteRules, record_values


def _same(a: Any, b: Any) -> bool:
    if a is None or a == "":
        return b is None or b == ""
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if isinstance(b, bool) or isinstance(a, bool):
        return bool(a) == bool(b) if isinstance(a, bool | int) and isinstance(b, bool | int) else False
    return bool(a == b)


def entry_matches(entry: AssignmentEntry, values: dict[str, Any]) -> bool:
    return all(any(_same(values.get(f), v) for v in accepted) for f, accepted in entry.criteria.items())


class Assigner:
    """Applies the org's assignment rules to planned writes. The caller holds the store lock."""

    def __init__(self, store: Store, config: OrgConfig) -> None:
        self.store = store
        self.config = config

    def rule_for(self, table: Table, rules: WriteRules) -> AssignmentRuleDef | None:
        """The rule a write runs on ``table``: the active one, the named one (if ``table``'s), or none."""
        if rules.assignment is None or "OwnerId" not in table.obj.fields:
            return None
        auto = self.config.automation
        if rules.assignment == ACTIVE_RULE:
            return auto.active_assignment_rule(table.name)
        rule = auto.assignment_rule(rules.assignment)
        return rule if rule is not None and rule.object == table.name else None

    def assign(
        self,
        table: Table,
        items: Sequence[Pending],
        rules: WriteRules,
        defaults: dict[str, Any],
    ) -> None:
        """Set ``OwnerId`` of the records (creates and updates that passed every check) an entry matches."""
        rule = self.rule_for(table, rules)
        live = [p for p in items if p.error is None]
        if rule is None or not live:
            return
        fields = {f for e in rule.entries for f in e.criteria}
        values = record_values(self.store, table, live, fields, defaults)
        for p in live:
            entry = next((e for e in rule.entries if entry_matches(e, values[id(p)])), None)
            if entry is not None:
                p.values["OwnerId"] = entry.owner_id


__all__ = ["Assigner", "entry_matches"]
