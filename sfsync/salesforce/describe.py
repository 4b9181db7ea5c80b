"""Describe: which objects the org has and what their fields are, cached per client.

The answers are typed (:class:`ObjectDescribe`, :class:`FieldInfo`) with the raw JSON kept in ``raw`` for
anything else. Lookups of objects and fields are case-insensitive, as Salesforce API names are.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sfsync.errors import SalesforceConfigError
from sfsync.salesforce.names import path_segment
from sfsync.salesforce.transport import Transport


@dataclass(frozen=True)
class FieldInfo:
    """The describe keys of one field that the sync engine decides on."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = False
    updateable: bool = False
    defaulted_on_create: bool = False
    external_id: bool = False
    id_lookup: bool = False
    unique: bool = False
    calculated: bool = False
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def required_on_create(self) -> bool:
        """Not nillable and not defaulted on create, among the fields a client may set: Salesforce's
        "Required Fields" page (docs/salesforce-facts.md#field-keys)."""
        return self.createable and not self.nillable and not self.defaulted_on_create

    @classmethod
    def from_json(cls, f: Mapping[str, Any]) -> FieldInfo:
        return cls(
            name=str(f["name"]),
            type=str(f.get("type", "")),
            label=str(f.get("label") or ""),
            length=int(f.get("length") or 0),
            precision=int(f.get("precision") or 0),
            scale=int(f.get("scale") or 0),
            nillable=bool(f.get("nillable", True)),
            createable=bool(f.get("createable", False)),
            updateable=bool(f.get("updateable", False)),
            defaulted_on_create=bool(f.get("defaultedOnCreate", False)),
            external_id=bool(f.get("externalId", False)),
            id_lookup=bool(f.get("idLookup", False)),
            unique=bool(f.get("unique", False)),
            calculated=bool(f.get("calculated", False)),
            custom=bool(f.get("custom", False)),
            reference_to=tuple(f.get("referenceTo") or ()),
            relationship_name=f.get("relationshipName"),
            picklist_values=tuple(
                str(p.get("value")) for p in (f.get("picklistValues") or ()) if p.get("active", True)
            ),
            restricted_picklist=bool(f.get("restrictedPicklist", False)),
            raw=f,
        )


@dataclass(frozen=True)
class ObjectSummary:
    """One entry of the global describe."""

    name: str
    label: str = ""
    key_prefix: str | None = None
    custom: bool = False
    createable: bool = False
    updateable: bool = False
    deletable: bool = False
    queryable: bool = False

    @classmethod
    def from_json(cls, o: Mapping[str, Any]) -> ObjectSummary:
        return cls(
            name=str(o["name"]),
            label=str(o.get("label") or ""),
            key_prefix=o.get("keyPrefix"),
            custom=bool(o.get("custom", False)),
            createable=bool(o.get("createable", False)),
            updateable=bool(o.get("updateable", False)),
            deletable=bool(o.get("deletable", False)),
            queryable=bool(o.get("queryable", False)),
        )


@dataclass(frozen=True)
class GlobalDescribe:
    objects: tuple[ObjectSummary, ...]
    max_batch_size: int = 200
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def object(self, name: str) -> ObjectSummary | None:
        low = name.lower()
        return next((o for o in self.objects if o.name.lower() == low), None)

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objects]


@dataclass(frozen=True)
class ObjectDescribe:
    summary: ObjectSummary
    fields: tuple[FieldInfo, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.summary.name

    def field(self, name: str) -> FieldInfo | None:
        """Case-insensitive field lookup."""
        low = name.lower()
        return next((f for f in self.fields if f.name.lower() == low), None)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


class DescribeCache:
    """Global and per-object describe, each fetched at most once per cache (i.e. per client)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._lock = threading.Lock()
        self._global: GlobalDescribe | None = None
        self._objects: dict[str, ObjectDescribe] = {}

    def describe_global(self) -> GlobalDescribe:
        with self._lock:
            if self._global is not None:
                return self._global
        body = self._transport.request("GET", "sobjects", what="describe the org's objects").json()
        result = GlobalDescribe(
            objects=tuple(ObjectSummary.from_json(o) for o in body.get("sobjects", ())),
            max_batch_size=int(body.get("maxBatchSize") or 200),
            raw=body,
        )
        with self._lock:
            self._global = result
        return result

    def describe(self, object_name: str) -> ObjectDescribe:
        segment = path_segment(object_name)
        key = object_name.lower()
        with self._lock:
            if key in self._objects:
                return self._objects[key]
        try:
            body = self._transport.request(
                "GET", f"sobjects/{segment}/describe", what=f"describe {object_name}", object=object_name
            ).json()
        except SalesforceConfigError as exc:
            if exc.status == 404 or exc.code == "NOT_FOUND":
                raise SalesforceConfigError(
                    f"object {object_name!r} does not exist in the org or the integration user cannot see it",
                    status=exc.status,
                    code=exc.code,
                    object=object_name,
                    hint="check the object's API name (custom objects end in __c) with `sfsync describe`, "
                    "and the user's object permissions",
                ) from exc
            raise
        result = ObjectDescribe(
            summary=ObjectSummary.from_json(body),
            fields=tuple(FieldInfo.from_json(f) for f in body.get("fields", ())),
            raw=body,
        )
        with self._lock:
            self._objects[key] = result
        return result

    def invalidate(self, object_name: str | None = None) -> None:
        """Forget one object's describe, or everything when ``object_name`` is None."""
        with self._lock:
            if object_name is None:
                self._global = None
                self._objects.clear()
            else:
                self._objects.pop(object_name.lower(), None)


__all__ = ["DescribeCache", "FieldInfo", "GlobalDescribe", "ObjectDescribe", "ObjectSummary"]
