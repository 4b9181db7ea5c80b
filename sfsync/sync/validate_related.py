"""Validation of the mappings that reach other records: lookups, record types, owners, constants.

Called by ``sfsync.sync.validate`` for each mapping entry that is not a plain field, and for plain
mappings onto reference fields. Every check runs against describe, before anything is written:

- a lookup (``Account.External_Id__c``): the relationship exists on the object (``relationshipName``),
  the parent object is in the reference's ``referenceTo`` (named first when the relationship is
  polymorphic, and only then, as Bulk API requires), the parent field exists and is indexed (an External
  ID field or one whose describe says ``idLookup``), the column's type can feed the parent field, and the
  reference field is createable / updateable for the sync's mode;
- ``RecordType.DeveloperName`` (or ``record_type:``): the name is one of the object's record types in
  ``recordTypeInfos`` (Salesforce refuses ``RecordType.DeveloperName`` as a relationship: DeveloperName is
  not indexed, so sfsync sends the ``recordTypeId`` describe lists instead);
- an owner (``{owner: email}``): the object has ``OwnerId``, and queues may own it when ``queue`` is asked;
- a constant: the field exists, is writable, and the value's type fits (restricted picklists: one of
  the active values);
- a plain key mapped straight to a reference field (``company_id: AccountId``) is refused with a hint
  naming the lookup form, unless the column holds record ids: every value of a sample of the column
  (``Related.sample``: its first non-null values) is a well-formed 15- or 18-character id whose key prefix
  belongs to an object the field refers to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sfsync.config import ConstantTarget, LookupTarget, OwnerTarget
from sfsync.config.mappings import OWNER_FIELD, RECORD_TYPE_FIELD
from sfsync.errors import SfsyncError
from sfsync.salesforce.ids import is_record_id
from sfsync.sources import ModelQuery, Source
from sfsync.sources.types import LogicalType

if TYPE_CHECKING:
    from sfsync.sync.validate import Checker

#: Values of a column read to tell record ids from warehouse keys.
ID_SAMPLE_ROWS = 1000


class Related(Protocol):
    """What validation reads besides the synced object's describe (``check`` and runs wire it up)."""

    def describe(self, object_name: str) -> Mapping[str, Any] | None:
        """The describe JSON of a parent object, or None when the org has no such object."""

    def sample(self, column: str) -> Sequence[str]:
        """Up to ``ID_SAMPLE_ROWS`` non-null values of a model column, as text."""


def record_type_ids(describe: Mapping[str, Any]) -> dict[str, str]:
    """DeveloperName → recordTypeId of the object's active record types (Master left out)."""
    out: dict[str, str] = {}
    for info in describe.get("recordTypeInfos") or ():
        if info.get("master") or not info.get("active", True):
            continue
        name, rid = info.get("developerName"), info.get("recordTypeId")
        if name and rid:
            out[str(name)] = str(rid)
    return out


def _constant_type(value: object) -> LogicalType:
    if isinstance(value, bool):
        return LogicalType.BOOLEAN
    if isinstance(value, int):
        return LogicalType.INTEGER
    if isinstance(value, float):
        return LogicalType.FLOAT
    if isinstance(value, dt.datetime):
        return LogicalType.TIMESTAMP
    if isinstance(value, dt.date):
        return LogicalType.DATE
    return LogicalType.TEXT


def _relationships(describe: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        f for f in describe.get("fields", []) if f.get("type") == "reference" and f.get("relationshipName")
    ]


def _indexed_fields(describe: Mapping[str, Any]) -> list[str]:
    return [
        str(f["name"])
        for f in describe.get("fields", [])
        if (f.get("externalId") or f.get("idLookup")) and f.get("type") != "id"
    ]


def lookup_hint(ref: Mapping[str, Any], related: Related | None, column: str) -> str:
    """How to write a lookup for reference field ``ref`` (names the parent's indexed fields)."""
    rel = str(ref.get("relationshipName") or ref["name"])
    targets = [str(t) for t in ref.get("referenceTo") or ()]
    polymorphic = len(targets) > 1
    parent = "User" if polymorphic and "User" in targets else (targets[0] if targets else "")
    parent_describe = related.describe(parent) if related is not None and parent else None
    indexed = _indexed_fields(parent_describe) if parent_describe else []
    by = next((f for f in indexed if f.endswith("__c")), indexed[0] if indexed else "External_Id__c")
    prefix = f"{parent}:" if polymorphic else ""
    hint = f"map it as a lookup: `{column}: {prefix}{rel}.{by}`"
    if indexed:
        hint += f" ({parent}'s indexed fields: {', '.join(indexed)})"
    return hint


class RelatedChecks:
    """The checks of one sync's related-record mappings; ``written`` collects the fields they set."""

    def __init__(self, check: Checker, related: Related | None, written: dict[str, list[str]]) -> None:
        self.check = check
        self.related = related
        self.written = written

    def _write(self, field: str, source: str) -> None:
        self.written.setdefault(field.lower(), []).append(source)

    # ---- plain key onto a reference field ------------------------------------------------------------
    def plain_reference(self, column: str, f: Mapping[str, Any]) -> None:
        """``company_id: AccountId``: fine only when the column holds ids of the objects referred to."""
        sample = list(self.related.sample(column)) if self.related is not None else []
        if not sample:
            return  # nothing to tell from (and nothing to send); checked again before runs that send
        targets = [str(t) for t in f.get("referenceTo") or ()]
        prefixes = set()
        for t in targets:
            d = self.related.describe(t) if self.related is not None else None
            if d and d.get("keyPrefix"):
                prefixes.add(str(d["keyPrefix"]))
        bad = [v for v in sample if not is_record_id(v) or (prefixes and v[:3] not in prefixes)]
        if not bad:
            return
        fname = str(f["name"])
        self.check.add(
            f"{fname} takes a Salesforce record id of {' or '.join(targets)}, but column {column!r} holds "
            f"other values (e.g. {bad[0]!r}: not a 15/18-character id"
            + (f" of {' or '.join(targets)}" if prefixes else "")
            + ")",
            lookup_hint(f, self.related, column),
            column=column,
            field=fname,
        )

    # ---- lookups ---------------------------------------------------------------------------------------
    def _reference_field(self, column: str, t: LookupTarget) -> Mapping[str, Any] | None:
        check = self.check
        refs = _relationships({"fields": list(check.fields.values())})
        if t.relationship is not None:
            f = next((r for r in refs if str(r["relationshipName"]).lower() == t.relationship.lower()), None)
            if f is None:
                names = [str(r["relationshipName"]) for r in refs]
                close = check.closest(t.relationship, names)
                check.add(
                    f"{check.object} has no relationship {t.relationship!r} (lookup {t.notation})",
                    (f"did you mean {close!r}? " if close else "")
                    + f"relationships of {check.object}: "
                    + ", ".join(
                        f"{r['relationshipName']} ({r['name']} → {', '.join(r['referenceTo'])})" for r in refs
                    ),
                    column=column,
                )
            return f
        assert t.field is not None
        f = check.fields.get(t.field.lower())
        if f is None or f.get("type") != "reference":
            check.add(
                f"{check.object} has no reference field {t.field!r}",
                "reference fields of " + check.object + ": " + ", ".join(str(r["name"]) for r in refs),
                column=column,
                field=t.field,
            )
            return None
        return f

    def lookup(self, column: str, t: LookupTarget, ctype: LogicalType | None) -> None:
        check = self.check
        f = self._reference_field(column, t)
        if f is None:
            return
        fname = str(f["name"])
        targets = [str(x) for x in f.get("referenceTo") or ()]
        self._write(fname, column)
        check.writable(column, f)
        if targets == ["RecordType"] or fname == RECORD_TYPE_FIELD:
            self._record_type_column(column, t, f, ctype)
            return
        polymorphic = len(targets) > 1
        rel = str(f.get("relationshipName"))
        if polymorphic and not t.object:
            check.add(
                f"{rel} is polymorphic ({', '.join(targets)}): name the parent object",
                f"write {targets[-1]}:{rel}.{t.parent_field}",
                column=column,
                field=fname,
            )
            return
        if t.object and not polymorphic:
            check.add(
                f"{rel} refers to {targets[0]} only: a parent object is named only for polymorphic "
                "relationships (Salesforce refuses it otherwise)",
                f"write {rel}.{t.parent_field}",
                column=column,
                field=fname,
            )
            return
        parent = t.object or targets[0]
        if parent.lower() not in {x.lower() for x in targets}:
            check.add(
                f"{rel} refers to {', '.join(targets)}, not {parent}",
                f"name one of them: {targets[-1]}:{rel}.{t.parent_field}",
                column=column,
                field=fname,
            )
            return
        if self.related is None:
            return  # no access to the parent's describe: checked by `check` and before every run
        pd = self.related.describe(parent)
        if pd is None:
            check.add(
                f"the org has no object {parent} (lookup {t.notation})", None, column=column, field=fname
            )
            return
        parent = str(pd.get("name") or parent)
        pf = next((x for x in pd.get("fields", []) if str(x["name"]).lower() == t.parent_field.lower()), None)
        indexed = _indexed_fields(pd)
        by_indexed = (
            f"look up {parent} by an indexed field: {', '.join(indexed) or 'none: mark one External ID'}"
        )
        if pf is None:
            close = check.closest(t.parent_field, [str(x["name"]) for x in pd.get("fields", [])])
            check.add(
                f"{parent} has no field {t.parent_field!r} (lookup {t.notation})",
                (f"did you mean {close!r}? " if close else "") + by_indexed,
                column=column,
                field=fname,
            )
            return
        if not (pf.get("externalId") or pf.get("idLookup")):
            check.add(
                f"{parent}.{pf['name']} is not indexed (neither External ID nor idLookup), so Salesforce "
                f"cannot find the parent by it (lookup {t.notation})",
                by_indexed,
                column=column,
                field=fname,
            )
            return
        check.types(column, ctype, pf, role=f"lookup {t.notation} (parent field {parent}.{pf['name']})")

    def _record_type_column(
        self, column: str, t: LookupTarget, f: Mapping[str, Any], ctype: LogicalType | None
    ) -> None:
        check = self.check
        if t.parent_field.lower() != "developername":
            check.add(
                f"record types are looked up by DeveloperName, not {t.parent_field}",
                f"write `{column}: RecordType.DeveloperName`",
                column=column,
                field=RECORD_TYPE_FIELD,
            )
        if not record_type_ids(check.describe):
            check.add(
                f"{check.object} has no record types (recordTypeInfos lists only Master)",
                "remove this mapping, or create record types in Salesforce Setup",
                column=column,
                field=RECORD_TYPE_FIELD,
            )
        if ctype is not None and ctype is not LogicalType.TEXT:
            check.add(
                f"column type {ctype.value} cannot hold record type developer names",
                "a text column of DeveloperName values; CAST it in the model's SQL",
                column=column,
                field=RECORD_TYPE_FIELD,
                column_type=ctype.value,
            )

    # ---- sync-level record type ------------------------------------------------------------------------
    def record_type(self, name: str) -> None:
        check = self.check
        known = record_type_ids(check.describe)
        f = check.fields.get(RECORD_TYPE_FIELD.lower())
        self._write(RECORD_TYPE_FIELD, "record_type")
        if name not in known and name.lower() not in {k.lower() for k in known}:
            check.add(
                f"{check.object} has no active record type {name!r}",
                f"record types of {check.object}: {', '.join(sorted(known)) or 'none (only Master)'} "
                "(DeveloperName, from describe's recordTypeInfos)",
                field=RECORD_TYPE_FIELD,
            )
            return
        if f is not None:
            check.writable("record_type", f)

    # ---- owners ----------------------------------------------------------------------------------------
    def owner(self, column: str, t: OwnerTarget, ctype: LogicalType | None) -> None:
        check = self.check
        f = check.fields.get(OWNER_FIELD.lower())
        if f is None:
            check.add(f"{check.object} has no owner (no OwnerId field)", "remove this mapping", column=column)
            return
        self._write(OWNER_FIELD, column)
        check.writable(column, f)
        targets = [str(x) for x in f.get("referenceTo") or ()]
        if "queue" in t.by and "Group" not in targets:
            check.add(
                f"queues cannot own {check.object} records (OwnerId refers to {', '.join(targets)})",
                "use owner: username or owner: email",
                column=column,
                field=OWNER_FIELD,
            )
        if ctype is not None and ctype is not LogicalType.TEXT:
            check.add(
                f"column type {ctype.value} cannot hold usernames, e-mails or queue names",
                "a text column; CAST it in the model's SQL",
                column=column,
                field=OWNER_FIELD,
                column_type=ctype.value,
            )

    # ---- constants -------------------------------------------------------------------------------------
    def constant(self, key: str, t: ConstantTarget) -> None:
        check = self.check
        f = check.field(None, key)
        if f is None:
            return
        fname = str(f["name"])
        self._write(fname, f"constant {fname}")
        check.writable(None, f)
        if f.get("type") == "reference":
            check.add(
                f"a constant cannot set reference field {fname}",
                "use a lookup from a column, or record_type: for RecordTypeId",
                field=fname,
            )
            return
        check.types(None, _constant_type(t.value), f, role=f"constant {t.value!r}")
        values = [str(p.get("value")) for p in f.get("picklistValues") or () if p.get("active", True)]
        if f.get("restrictedPicklist") and str(t.value) not in values:
            check.add(
                f"{t.value!r} is not a value of restricted picklist {fname}",
                f"use one of: {', '.join(values)}",
                field=fname,
            )


class SourceRelated:
    """:class:`Related` over an org (``describe``: object name → describe JSON, raising SfsyncError for an
    unknown object) and the model's source (``preview`` of one column)."""

    def __init__(
        self,
        describe: Callable[[str], Mapping[str, Any]],
        source: Source,
        query: ModelQuery,
        sample_rows: int = ID_SAMPLE_ROWS,
    ) -> None:
        self._describe = describe
        self._source = source
        self._query = query
        self._rows = sample_rows
        self._describes: dict[str, Mapping[str, Any] | None] = {}

    def describe(self, object_name: str) -> Mapping[str, Any] | None:
        key = object_name.lower()
        if key not in self._describes:
            try:
                self._describes[key] = self._describe(object_name)
            except SfsyncError:
                self._describes[key] = None
        return self._describes[key]

    def sample(self, column: str) -> Sequence[str]:
        table = self._source.preview(self._query.with_columns([column]), self._rows)
        return [str(v) for v in table.column(0).to_pylist() if v is not None and str(v) != ""]


__all__ = ["ID_SAMPLE_ROWS", "Related", "RelatedChecks", "SourceRelated", "lookup_hint", "record_type_ids"]
