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
record's, both non-blank, ignoring ASCII case and surrounding spaces (phones also ignore
:data:`PHONE_SEPARATORS`). Candidates are found through an expression index (SQLite's own functions, so
writes stay fast) on the fields all conditions share (the "match key" of Salesforce's matching rules):
a 10,000-row Bulk chunk costs one indexed query per rule, whatever the table size.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sfsync.emulator.metadata.automation import DuplicateRuleDef
from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.records.results import RecordError
from sfsync.emulator.records.store import Store, Table, quote
from sfsync.emulator.records.write_rules import WriteRules, record_values
from sfsync.emulator.records.writes import Pending, json_list

DUPLICATES_DETECTED = "DUPLICATES_DETECTED"
#: The Contact matching field that stands for the contact's company (its Account's name).
ACCOUNT_NAME = "Account.Name"
#: Characters a phone number loses before it is compared ("(415) 555-0100" = "415.555.0100").
PHONE_SEPARATORS = " -().+/"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_NO_SEPARATORS = str.maketrans("", "", PHONE_SEPARATORS)


def fold_text(value: Any) -> str | None:
    """Text as matching rules compare it: ASCII letters without case, surrounding spaces dropped; blank
    → None. The same as SQLite's ``lower(trim(x))``, which the candidate indexes are built on."""
    if value is None:
        return None
    text = str(value).strip(" ").translate(_ASCII_LOWER)
    return text or None


def phone_key(value: Any) -> str | None:
    """A phone number as matching rules compare it: without :data:`PHONE_SEPARATORS`; blank → None."""
    if value is None:
        return None
    text = str(value).translate(_NO_SEPARATORS).translate(_ASCII_LOWER)
    return text or None


def _sql_fold(column: str) -> str:
    return f"lower(trim({column}))"


def _sql_phone(column: str) -> str:
    expr = column
    for ch in PHONE_SEPARATORS:
        expr = f"replace({expr}, '{ch}', '')"
    return f"lower({expr})"


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
        with store.lock:
            for rule in config.automation.duplicate_rules:
                table = store.table(rule.object)
                if rule.active and table is not None:
                    for key in self._blocking(rule):
                        self._ensure_index(table, key)

    # ---- schema --------------------------------------------------------------------------------------
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

    def _expr(self, table: Table, name: str, alias: str = "") -> str:
        return self._expr_of(table, name, f"{alias}{quote(table.codecs[name.lower()].field.name)}")

    @staticmethod
    def _expr_of(table: Table, name: str, sql: str) -> str:
        """The match key of field ``name`` as SQL over ``sql`` (a column or a bound value)."""
        return _sql_phone(sql) if table.codecs[name.lower()].field.type == "phone" else _sql_fold(sql)

    def _norm(self, table: Table, name: str, value: Any) -> str | None:
        fd = table.codecs[name.lower()].field
        return phone_key(value) if fd.type == "phone" else fold_text(value)

    def _ensure_index(self, table: Table, key: tuple[str, ...]) -> None:
        exprs = ", ".join(self._expr(table, f) for f in key)
        digest = hashlib.sha1(exprs.encode()).hexdigest()[:10]
        index = quote(f"ix_dup_{table.name}_{digest}")
        self.store.conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table.sql} ({exprs})")

    # ---- checking ------------------------------------------------------------------------------------
    def check(
        self,
        table: Table,
        creates: Sequence[Pending],
        updates: Sequence[Pending],
        rules: WriteRules,
        defaults: dict[str, Any],
    ) -> None:
        """Set ``DUPLICATES_DETECTED`` on every planned record an active rule refuses."""
        for rule in self.config.automation.duplicate_rules_for(table.name):
            watched: list[Pending] = []
            for items, action in ((creates, rule.on_create), (updates, rule.on_edit)):
                if action == "block" or (action == "alert" and not rules.allow_save):
                    watched.extend(p for p in items if p.error is None)
            if watched:
                self._check_rule(table, rule, watched, defaults)

    def _check_rule(
        self, table: Table, rule: DuplicateRuleDef, items: list[Pending], defaults: dict[str, Any]
    ) -> None:
        fields = [f for f in rule.matching.fields if f != ACCOUNT_NAME and table.has(f)]
        need_account = ACCOUNT_NAME in rule.matching.fields and table.has("AccountId")
        read = fields + (["AccountId"] if need_account else [])
        blocking = self._blocking(rule)
        exact = {f: table.codecs[f.lower()].field.name for f in read}
        # values of edited records overlay the stored ones; new records need no query
        stored = record_values(self.store, table, [p for p in items if not p.created], read)

        def value(p: Pending, f: str) -> Any:
            if not p.created:
                return stored[id(p)].get(f)
            name = exact[f]
            return p.values[name] if name in p.values else defaults.get(name)

        found: dict[str, dict[str, Any]] = {}  # candidate id → its values
        candidates: dict[int, dict[str, None]] = {}  # item position → candidate ids
        for key in blocking:
            names = [exact[f] for f in key]
            # the raw values go to SQLite, which normalises them like the index: no per-row Python
            payload = [
                [
                    i,
                    *(
                        p.values.get(n, defaults.get(n)) if p.created else stored[id(p)].get(f)
                        for n, f in zip(names, key, strict=True)
                    ),
                ]
                for i, p in enumerate(items)
            ]
            for pos, rid, row in self._candidates(table, key, payload, read):
                found[rid] = row
                if rid != items[pos].id:
                    candidates.setdefault(pos, {})[rid] = None
        if not candidates:
            return
        mine = {pos: {f: value(items[pos], f) for f in read} for pos in candidates}
        names_of = self._account_names(mine, found) if need_account else {}
        for pos, rids in candidates.items():
            seen = [rid for rid in rids if self._matches(table, rule, mine[pos], found[rid], names_of)]
            if seen:
                items[pos].error = duplicate_error(DuplicateMatch(rule, tuple(sorted(seen))))

    def _candidates(
        self, table: Table, key: tuple[str, ...], payload: list[list[Any]], read: list[str]
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """(item position, candidate id, its values) for every saved record whose match key equals an
        item's (``payload`` rows: position, then the item's raw values of ``key``). Blank never matches."""
        cols = ", ".join(f"t.{quote(table.codecs[f.lower()].field.name)}" for f in read)
        on = []
        for i, f in enumerate(key, start=1):
            mine = self._expr_of(table, f, f"json_extract(k.value, '$[{i}]')")
            on.append(f"{self._expr(table, f, 't.')} = {mine} AND {mine} <> ''")
        sql = (
            "SELECT json_extract(k.value, '$[0]'), t.Id, "
            f"{cols} FROM json_each(?) AS k JOIN {table.sql} AS t ON {' AND '.join(on)} "
            "WHERE t.IsDeleted = 0"
        )
        return [
            (int(row[0]), str(row[1]), dict(zip(read, row[2:], strict=True)))
            for row in self.store.conn.execute(sql, (json_list(payload),))
        ]

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
    "duplicate_error",
    "fold_text",
    "phone_key",
]
