"""What a sync's ``mappings`` entries mean: a field, a lookup of a parent, a fixed value or an owner.

A mapping entry is ``key: value``. The key is a model column, except for a constant, whose key is the
field it sets. Forms of the value:

==========================================  ==============================================================
``Email``                                   the column feeds field ``Email``
``Account.External_Id__c``                  lookup: the column holds the parent Account's ``External_Id__c``;
                                            Salesforce sets ``AccountId`` to that Account (the notation of
                                            Bulk API headers and Data Loader: ``RelationshipName.Field``)
``Parent_Account__r.External_Id__c``        the same through a custom relationship
``User:Owner.Username``                     a polymorphic relationship names its parent object first
                                            (``ObjectType:RelationshipName.Field``, Bulk API's notation)
``{field: AccountId, by: External_Id__c}``  the long form of a lookup (``object: User`` when polymorphic)
``RecordType.DeveloperName``                the column holds record type developer names; sfsync sends the
                                            ``RecordTypeId`` describe lists for it
``{owner: email}``                          the column names the record's owner: ``username``, ``email``
                                            (active users) or ``queue`` (a queue's name or developer name),
                                            or a list of these tried in order; sfsync sends ``OwnerId``
``LeadSource: {value: Warehouse}``          constant: every row sets ``LeadSource`` to ``Warehouse``
==========================================  ==============================================================

This module only checks the notation. Whether the relationship, parent object and parent field exist,
are indexed and can take the column is checked against describe by ``sfsync.sync.validate``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_FIELD = re.compile(rf"^{_NAME}$")
_LOOKUP = re.compile(rf"^(?:(?P<object>{_NAME}):)?(?P<relationship>{_NAME})\.(?P<field>{_NAME})$")

OwnerKey = Literal["username", "email", "queue"]
OWNER_KEYS: tuple[OwnerKey, ...] = ("username", "email", "queue")
"""How an owner column names the owner: a user's username or e-mail, or a queue's name."""

ConstantValue = str | bool | int | float | dt.date | dt.datetime
"""What a constant may be (YAML gives dates and timestamps for unquoted ``2024-01-31`` values)."""

RECORD_TYPE_RELATIONSHIP = "RecordType"
RECORD_TYPE_FIELD = "RecordTypeId"
OWNER_FIELD = "OwnerId"


class FieldTarget(str):
    """The column feeds this field (a ``str``: the field's API name, as ``mappings`` always held)."""

    __slots__ = ()

    @property
    def field(self) -> str:
        return str(self)

    def dump(self) -> Any:
        return str(self)


@dataclass(frozen=True)
class LookupTarget:
    """The column holds a value of the parent's ``parent_field``; the reference is set to that parent.

    Written either short (``relationship`` known, ``field`` None) or long (``field``: the reference field,
    ``relationship`` None): describe fills in the other."""

    parent_field: str
    relationship: str | None = None
    field: str | None = None
    object: str | None = None  # the parent object, for polymorphic references

    @property
    def notation(self) -> str:
        """``[Object:]Relationship.Field`` as written (long form: ``AccountId → External_Id__c``)."""
        if self.relationship is None:
            obj = f" on {self.object}" if self.object else ""
            return f"{self.field} by {self.parent_field}{obj}"
        prefix = f"{self.object}:" if self.object else ""
        return f"{prefix}{self.relationship}.{self.parent_field}"

    @property
    def is_record_type(self) -> bool:
        return (self.relationship or "").lower() == RECORD_TYPE_RELATIONSHIP.lower() or (
            self.field or ""
        ).lower() == RECORD_TYPE_FIELD.lower()

    def dump(self) -> Any:
        if self.relationship is not None:
            return self.notation
        out: dict[str, Any] = {"field": self.field, "by": self.parent_field}
        if self.object:
            out["object"] = self.object
        return out


@dataclass(frozen=True)
class OwnerTarget:
    """The column names the record's owner; ``by`` are the ways to match it, tried in order."""

    by: tuple[OwnerKey, ...]

    def dump(self) -> Any:
        return {"owner": self.by[0] if len(self.by) == 1 else list(self.by)}


@dataclass(frozen=True)
class ConstantTarget:
    """The mapping's key is a field, set to ``value`` on every row written."""

    value: ConstantValue

    def dump(self) -> Any:
        return {"value": self.value}


Target = FieldTarget | LookupTarget | OwnerTarget | ConstantTarget


def parse_target(raw: Any) -> Target:
    """A mapping value as written in the project file → its typed meaning (ValueError says how to fix)."""
    if isinstance(raw, FieldTarget | LookupTarget | OwnerTarget | ConstantTarget):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if _FIELD.match(text):
            return FieldTarget(text)
        m = _LOOKUP.match(text)
        if m:
            return LookupTarget(m["field"], relationship=m["relationship"], object=m["object"])
        raise ValueError(
            f"{raw!r} is neither a field name (Email) nor a lookup (Account.External_Id__c, or "
            "User:Owner.Username for a polymorphic relationship)"
        )
    if isinstance(raw, dict):
        keys = set(raw)
        if keys == {"value"}:
            return ConstantTarget(_constant(raw["value"]))
        if keys == {"owner"}:
            return OwnerTarget(_owner_keys(raw["owner"]))
        if keys in ({"field", "by"}, {"field", "by", "object"}):
            parts = {k: raw[k] for k in keys}
            for k, v in parts.items():
                if not isinstance(v, str) or not _FIELD.match(v):
                    raise ValueError(f"lookup {k}: {v!r} is not an API name")
            return LookupTarget(parts["by"], field=parts["field"], object=parts.get("object"))
        raise ValueError(
            f"unknown mapping form {sorted(keys)}: write {{value: X}} (a constant), {{owner: email}} "
            "(the owner), or {field: AccountId, by: External_Id__c} (a lookup)"
        )
    raise ValueError(f"{raw!r} is not a field name, a lookup, {{value: ...}} or {{owner: ...}}")


def _constant(value: Any) -> ConstantValue:
    if value is None:
        raise ValueError("a constant needs a value; to leave the field alone, remove the mapping")
    if isinstance(value, str | bool | int | float | dt.date | dt.datetime):
        return value
    raise ValueError(f"a constant is text, a number, true/false or a date, not {type(value).__name__}")


def _owner_keys(raw: Any) -> tuple[OwnerKey, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[OwnerKey] = []
    for item in items:
        if item not in OWNER_KEYS:
            raise ValueError(f"owner: {item!r} is not one of {', '.join(OWNER_KEYS)} (or a list of them)")
        if item in out:
            raise ValueError(f"owner: {item!r} is listed twice")
        out.append(item)
    if not out:
        raise ValueError(f"owner: give one of {', '.join(OWNER_KEYS)}")
    return tuple(out)


def dump_target(target: Target) -> Any:
    return target.dump()


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ .@/+-]*[A-Za-z0-9_.]|[A-Za-z_]", value)
        return value if plain and yaml.safe_load(value) == value else json.dumps(value)
    return str(value)


def target_text(target: Target) -> str:
    """A mapping value as one line of text (forms): the short notation, or a YAML flow mapping such as
    ``{value: Warehouse}`` or ``{owner: email}``; :func:`parse_target` reads it back (after YAML)."""
    return _flow(target.dump())


MappingTarget = Annotated[
    Target,
    PlainValidator(parse_target),
    PlainSerializer(dump_target),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "object"}]}),
]
"""A mapping value in a pydantic model: parsed on load, written back in the form it was given."""


@dataclass(frozen=True)
class MappingEntry:
    """One mapping entry: ``column`` is None for a constant (whose ``key`` is the field)."""

    key: str
    target: Target

    @property
    def column(self) -> str | None:
        return None if isinstance(self.target, ConstantTarget) else self.key

    @property
    def describe_text(self) -> str:
        """How plan, runs and the web UI show the entry."""
        t = self.target
        if isinstance(t, FieldTarget):
            return f"{self.key} → {t.field}"
        if isinstance(t, LookupTarget):
            return f"{self.key} → {t.notation} (lookup)"
        if isinstance(t, OwnerTarget):
            return f"{self.key} → OwnerId (owner by {' or '.join(t.by)})"
        return f"{self.key} = {t.value!r} (constant)"


def entries(mappings: dict[str, Target]) -> list[MappingEntry]:
    return [MappingEntry(k, v) for k, v in mappings.items()]


__all__ = [
    "OWNER_FIELD",
    "OWNER_KEYS",
    "RECORD_TYPE_FIELD",
    "ConstantTarget",
    "ConstantValue",
    "FieldTarget",
    "LookupTarget",
    "MappingEntry",
    "MappingTarget",
    "OwnerKey",
    "OwnerTarget",
    "Target",
    "entries",
    "parse_target",
    "target_text",
]
