"""The org's automation on a planned write: duplicate rules first (they can refuse records), then
assignment rules on what is left (they set owners), in the order a real org runs them on save."""

from __future__ import annotations

from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.records.assignment import Assigner
from sfsync.emulator.records.duplicates import DuplicateChecker
from sfsync.emulator.records.store import Store
from sfsync.emulator.records.write_rules import WriteRules
from sfsync.emulator.records.writes import Plan, Writer


class OrgAutomation:
    def __init__(self, store: Store, writer: Writer, config: OrgConfig) -> None:
        self.writer = writer
        self.duplicates = DuplicateChecker(store, config)
        self.assigner = Assigner(store, config)

    def run(self, plan: Plan, rules: WriteRules | None) -> Plan:
        """Refuse duplicates and assign owners in ``plan`` (in place); ``rules`` None runs nothing (the
        duplicate rules' match keys still learn what the write saves). The caller holds the store lock
        and an open transaction."""
        if not (plan.creates or plan.updates):
            return plan
        watched = self.duplicates.watches(plan.table)
        if rules is None and not watched:
            return plan
        defaults = self.writer.create_defaults(plan.table)
        # key hashes are taken before assignment rules run: they set owners, which no match key uses
        keyed = self.duplicates.keyed(plan, defaults) if watched else []
        if rules is not None:
            self.duplicates.check(plan.table, plan.creates, plan.updates, rules, defaults, keyed)
            plan.creates = [p for p in plan.creates if p.error is None]
            plan.updates = [p for p in plan.updates if p.error is None]
            self.assigner.assign(plan.table, [*plan.creates, *plan.updates], rules, defaults)
        self.duplicates.remember(keyed)
        return plan


__all__ = ["OrgAutomation"]
