"""Duplicate rules on writes: refuse a record that matches an existing one, as a real org does.

For each active rule of the object (``metadata/automation.py``), a record being created (``on_create``)
or edited (``on_edit``) is compared with the records already saved:

- ``allow``: nothing happens (the rule only reports);
- ``alert``: refused with ``DUPLICATES_DETECTED`` unless the write allows saving
  (``Sforce-Duplicate-Rule-Header: allowSave=true``; REST API, API 52.0+);
- ``block``: always refused.

The error's message is the rule's alert text ("Use one of these records?" for the standard rules).
Records of one request are compared with the records saved before it, not with each other: Salesforce
commits a batch's records together, so duplicates inside one batch go undetected (observed with Data
Loader, and why Salesforce Help tells importers to de-duplicate files first).

Matching (``MatchingRuleDef``): a record matches when every field of one condition equals the existing
record's, both non-blank, comparing text without case and with runs of white space as one, and phones
by their digits. Candidates are the saved records with the same *match key* (the fields all conditions
share, as Salesforce's matching rules index them), kept in memory by ``match_keys``: a 10,000-row Bulk
chunk costs a hash lookup per record and one read of the few candidates, whatever the table size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sfsync.emulator.metadata.automation import DuplicateRuleDef
from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.records.match_keys import MatchKeys, Normaliser, fold_text, phone_digits
from sfsync.emulator.records.pending import Pending, json_list
from sfsync.emulator.records.results import RecordError
from sfsync.emulator.records.store import Store, Table, quote
from sfsync.emulator.records.write_rules import WriteRules, record_values
from sfsync.emulator.records.writes import Plan

DUPLICATES_DETECTED = "DUPLICATES_DETECTED"
#: The Contact matching field that stands for the contact's company (its Account's name).
ACCOUNT_NAME = "Account.Name"
_UNSET = object()


@dataclass(frozen=True)
class Keyed:
    """The match key hashes of the records one write saves, for one set of match keys."""

    keys: MatchKeys
    items: list[Pending]
    hashes: list[int | None]

    def hash_of(self) -> dict[int, int | None]:
        """``id(item)`` → its key hash."""
        return dict(zip(map(id, self.items), self.hashes, strict=True))


@dataclass(frozen=True)
class DuplicateMatch:
    """Why a record was refused: the rule and the existing records it matched (ids, in Id order)."""

    rule: DuplicateRuleDef
    record_ids: tuple[str, ...]


class DuplicateChecker:
    """Applies the org's duplicate rules to planned writes. The caller holds the store lock."""

    def __init__(self, store: Store, config: OrgConfig) -> None:
        self.store = store
        self.config = config
        self._keys: dict[tuple[str, tuple[str, ...]], MatchKeys] = {}

    # ---- match keys ----------------------------------------------------------------------------------
    @staticmethod
    def _blocking(rule: DuplicateRuleDef) -> list[tuple[str, ...]]:
        """The field sets candidates are looked up by: the fields every condition shares, else each
        condition's own fields (Account.Name is compared afterwards, never looked up)."""
        conditions = [tuple(f for f in c if f != ACCOUNT_NAME) for c in rule.matching.conditions]
        conditions = [c for c in conditions if c]
        if not conditions:
            return []
        common = [f for f in conditions[0] if all(f in c for c in conditions[1:])]
        return [tuple(common)] if common else list(dict.fromkeys(conditions))

    @staticmethod
    def _normaliser(table: Table, name: str) -> Normaliser:
        return phone_digits if table.codecs[name.lower()].field.type == "phone" else fold_text

    def _norm(self, table: Table, name: str, value: Any) -> str | None:
        return self._normaliser(table, name)(value)

    def _match_keys(self, table: Table) -> list[MatchKeys]:
        """The match keys of ``table``'s active rules, each read from the stored records the first time."""
        out: list[MatchKeys] = []
        for rule in self.config.automation.duplicate_rules_for(table.name):
            for key in self._blocking(rule):
                fields = tuple(table.codecs[f.lower()].field.name for f in key if table.has(f))
                if len(fields) != len(key):
                    continue
                keys = self._keys.get((table.name, fields))
                if keys is None:
                    keys = MatchKeys(table.obj.key_prefix, fields, [self._normaliser(table, f) for f in key])
                    cols = ", ".join(quote(f) for f in fields)
                    # deleted records too: an undelete brings them back without telling anyone
                    keys.add_rows(self.store.conn.execute(f"SELECT Id, {cols} FROM {table.sql}"))
                    self._keys[(table.name, fields)] = keys
                if keys not in out:
                    out.append(keys)
        return out

    def watches(self, table: Table) -> bool:
        """Whether an active duplicate rule watches ``table``."""
        return bool(self.config.automation.duplicate_rules_for(table.name))

    def keyed(self, plan: Plan, defaults: dict[str, Any]) -> list[Keyed]:
        """The match key hashes of what ``plan`` writes: every record it creates, and every edit that sets
        a key field (an edit that sets none keeps the key it has)."""
        table = plan.table
        creates = [p for p in plan.creates if p.error is None and p.id]
        out: list[Keyed] = []
        for keys in self._match_keys(table) if (creates or plan.updates) else ():
            fields = keys.fields
            values = [[p.values[f] if f in p.values else defaults.get(f) for f in fields] for p in creates]
            items = list(creates)
            partial: list[Pending] = []  # edits that set some key fields: the others are read
            for p in plan.updates:
                if p.error is None and p.id:
                    row = [p.values.get(f, _UNSET) for f in fields]
                    if _UNSET not in row:
                        values.append(row)
                        items.append(p)
                    elif any(v is not _UNSET for v in row):
                        partial.append(p)
            if partial:
                stored = record_values(self.store, table, partial, fields)
                values.extend([stored[id(p)].get(f) for f in fields] for p in partial)
                items.extend(partial)
            out.append(Keyed(keys, items, keys.hashes(values)))
        return out

    @staticmethod
    def remember(keyed: Sequence[Keyed]) -> None:
        """Tell the match keys about the records a write saves (every write, whatever its rules say, so
        later writes find them). Before the write is applied: one that fails later leaves an entry that
        only costs a read."""
        for k in keyed:
            kept = [(p.id or "", h) for p, h in zip(k.items, k.hashes, strict=True) if p.error is None]
            k.keys.remember([rid for rid, _ in kept], [h for _, h in kept])

    # ---- checking ------------------------------------------------------------------------------------
    def check(
        self,
        table: Table,
        creates: Sequence[Pending],
        updates: Sequence[Pending],
        rules: WriteRules,
        defaults: dict[str, Any],
        keyed: Sequence[Keyed] = (),
    ) -> None:
        """Set ``DUPLICATES_DETECTED`` on every planned record an active rule refuses (``keyed``: the
        write's key hashes, from :meth:`keyed`, computed here when missing)."""
        for rule in self.config.automation.duplicate_rules_for(table.name):
            watched: list[Pending] = []
            for items, action in ((creates, rule.on_create), (updates, rule.on_edit)):
                if action == "block" or (action == "alert" and not rules.allow_save):
                    watched.extend(p for p in items if p.error is None)
            if watched:
                self._check_rule(table, rule, watched, defaults, keyed)

    def _check_rule(
        self,
        table: Table,
        rule: DuplicateRuleDef,
        items: list[Pending],
        defaults: dict[str, Any],
        keyed: Sequence[Keyed],
    ) -> None:
        fields = [f for f in rule.matching.fields if f != ACCOUNT_NAME and table.has(f)]
        need_account = ACCOUNT_NAME in rule.matching.fields and table.has("AccountId")
        read = fields + (["AccountId"] if need_account else [])
        exact = {f: table.codecs[f.lower()].field.name for f in read}
        # values of edited records overlay the stored ones; new records need no query
        stored = record_values(self.store, table, [p for p in items if not p.created], read)

        def value(p: Pending, f: str) -> Any:
            if not p.created:
                return stored[id(p)].get(f)
            name = exact[f]
            return p.values[name] if name in p.values else defaults.get(name)

        candidates = self._candidates(table, rule, items, stored, defaults, keyed)
        if not candidates:
            return
        found = self._read(table, {rid for rids in candidates.values() for rid in rids}, read)
        candidates = {pos: [rid for rid in rids if rid in found] for pos, rids in candidates.items()}
        mine = {pos: {f: value(items[pos], f) for f in read} for pos in candidates}
        names_of = self._account_names(mine, found) if need_account else {}
        for pos, rids in candidates.items():
            seen = [rid for rid in rids if self._matches(table, rule, mine[pos], found[rid], names_of)]
            if seen:
                items[pos].error = duplicate_error(DuplicateMatch(rule, tuple(sorted(seen))))

    def _candidates(
        self,
        table: Table,
        rule: DuplicateRuleDef,
        items: list[Pending],
        stored: dict[int, dict[str, Any]],
        defaults: dict[str, Any],
        keyed: Sequence[Keyed],
    ) -> dict[int, list[str]]:
        """Item position → ids of the saved records with the same match key (a superset to check)."""
        out: dict[int, dict[str, None]] = {}
        by_fields = {keys.fields: keys for keys in self._match_keys(table)}
        known = {k.keys.fields: k.hash_of() for k in keyed}
        for key in self._blocking(rule):
            fields = tuple(table.codecs[f.lower()].field.name for f in key if table.has(f))
            keys = by_fields.get(fields)
            if keys is None:
                continue
            hash_of = known.get(fields, {})
            missing = [p for p in items if id(p) not in hash_of]
            if missing:  # edits that set no key field (their stored key), or no ``keyed`` given
                values = [
                    [p.values[n] if n in p.values else defaults.get(n) for n in fields]
                    if p.created
                    else [stored[id(p)].get(f) for f in key]
                    for p in missing
                ]
                hash_of = {**hash_of, **dict(zip(map(id, missing), keys.hashes(values), strict=True))}
            for pos, p in enumerate(items):
                for rid in keys.candidates(hash_of[id(p)]):
                    if rid != p.id:
                        out.setdefault(pos, {})[rid] = None
        return {pos: list(rids) for pos, rids in out.items()}

    def _read(self, table: Table, rids: set[str], read: list[str]) -> dict[str, dict[str, Any]]:
        """The ``read`` values of the live records among ``rids``."""
        cols = ", ".join(quote(table.codecs[f.lower()].field.name) for f in read)
        sql = (
            f"SELECT Id, {cols} FROM {table.sql} "
            "WHERE Id IN (SELECT value FROM json_each(?)) AND IsDeleted = 0"
        )
        return {
            str(row[0]): dict(zip(read, row[1:], strict=True))
            for row in self.store.conn.execute(sql, (json_list(rids),))
        }

    def _account_names(
        self, values: dict[int, dict[str, Any]], found: dict[str, dict[str, Any]]
    ) -> dict[str, str | None]:
        account = self.store.table("Account")
        ids = {v.get("AccountId") for v in (*values.values(), *found.values())} - {None}
        if account is None or not ids:
            return {}
        sql = f"SELECT Id, Name FROM {account.sql} WHERE Id IN (SELECT value FROM json_each(?))"
        return {rid: fold_text(name) for rid, name in self.store.conn.execute(sql, (json_list(ids),))}

    def _matches(
        self,
        table: Table,
        rule: DuplicateRuleDef,
        mine: dict[str, Any],
        theirs: dict[str, Any],
        names: dict[str, str | None],
    ) -> bool:
        for condition in rule.matching.conditions:
            for f in condition:
                if f == ACCOUNT_NAME:
                    a = names.get(mine.get("AccountId") or "")
                    b = names.get(theirs.get("AccountId") or "")
                elif table.has(f):
                    a = self._norm(table, f, mine.get(f))
                    b = self._norm(table, f, theirs.get(f))
                else:
                    a = b = None
                if a is None or a != b:
                    break
            else:
                return True
        return False


def duplicate_error(match: DuplicateMatch) -> RecordError:
    return RecordError(DUPLICATES_DETECTED, match.rule.alert_text, [], detail=match)


__all__ = [
    "DUPLICATES_DETECTED",
    "DuplicateChecker",
    "DuplicateMatch",
    "Keyed",
    "duplicate_error",
]
