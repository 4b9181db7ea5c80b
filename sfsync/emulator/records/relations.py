"""Relationship references: a parent named through one of its indexed fields instead of its record id.

Both front ends use this module, so REST single-record calls, sObject Collections and Bulk API 2.0 ingest
resolve references the same way:

- REST / Collections JSON: ``"RelationshipName": {"IndexedField": "value"}``; a polymorphic relationship
  names the parent object in ``attributes``: ``"Owner": {"attributes": {"type": "User"}, "Username": "x"}``
  (developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/datafiles_xml_rel_fields.htm).
- Bulk CSV header: ``RelationshipName.IndexedField``, and for a polymorphic relationship
  ``ObjectType:RelationshipName.IndexedField``
  (developer.salesforce.com/docs/platform/api-asynch/guide/relationship-fields-in-a-header-row-2-0.html).

Only child-to-parent, one level; the parent field must be indexed: an External ID field or a standard field
whose describe says ``idLookup``. A reference whose value matches no parent record fails that record with
``INVALID_FIELD`` "Foreign key external ID: … not found for field … in entity …" and no fields, as a real org
answers (recorded in apache/camel, ``camel-salesforce`` test resource
``composite_response_example_failure.json``). Messages marked (unconfirmed) below follow the same style
where no recording was found. References resolve against the records stored before the request: two rows
of one request never see each other, as in a real org's Bulk jobs.

Besides resolving parents, ``check_special_references`` applies the rules of two reference fields that
point at setup data: ``RecordTypeId`` (the record type must belong to the object and be active) and
``OwnerId`` (an active user; queues own the objects whose ``OwnerId`` refers to ``Group``).
"""

from __future__ import annotations

from typing import Any

from sfsync.emulator.metadata.model import FieldDef, OrgConfig
from sfsync.emulator.records.pending import Pending, Ref, fold, json_list
from sfsync.emulator.records.results import OrgError, RecordError
from sfsync.emulator.records.store import Store, Table, quote
from sfsync.emulator.records.validate import FieldValueError


def invalid_batch(message: str) -> OrgError:
    """A header problem: the HTTP layer fails the Bulk job with ``InvalidBatch : {message}``."""
    return OrgError(400, "InvalidBatch", message)


def _ref_error(message: str) -> RecordError:
    return RecordError("INVALID_FIELD", message, [])


def _not_indexed(fd: FieldDef, parent: Table) -> str:
    # wording users report from real orgs for RecordType.DeveloperName (unconfirmed for other fields)
    return f"Field name provided, {fd.name} is not an External ID or indexed field for {parent.name}"


def _is_indexed(fd: FieldDef) -> bool:
    return fd.external_id or fd.id_lookup


def json_ref(store: Store, rel: FieldDef, value: dict[str, Any]) -> Ref | RecordError:
    """The parent a JSON relationship value names; a per-record error for a reference a real org refuses
    at save time. An unknown object or parent field is a request error (``OrgError``), as for any field."""
    attrs = value.get("attributes")
    kind = attrs.get("type") if isinstance(attrs, dict) else None
    rel_name = rel.relationship_name or rel.name
    polymorphic = len(rel.reference_to) > 1
    if kind:
        parent = store.table(str(kind))
        if parent is None:
            raise OrgError(400, "INVALID_TYPE", f"sObject type '{kind}' is not supported.")
        if parent.name not in rel.reference_to:
            return _ref_error(  # (unconfirmed)
                f"{parent.name} is not a valid type for the relationship {rel_name}: "
                f"it refers to {', '.join(rel.reference_to)}"
            )
    elif polymorphic:
        return _ref_error(  # (unconfirmed)
            f"{rel_name} is a polymorphic relationship ({', '.join(rel.reference_to)}): name the parent "
            f'object in "attributes": {{"type": "{rel.reference_to[-1]}"}}'
        )
    else:
        parent = store.table(rel.reference_to[0])
        if parent is None:
            raise OrgError(400, "INVALID_FIELD", f"No such column '{rel_name}' on sobject")
    keys = [k for k in value if k != "attributes"]
    for k in keys:
        if not parent.has(k):
            raise OrgError(400, "INVALID_FIELD", f"No such column '{k}' on sobject of type {parent.name}")
    if len(keys) > 1:
        # recorded wording: salesforce.stackexchange.com/questions/251266
        return _ref_error(
            f"More than 1 field provided in an external foreign key reference in entity: {parent.name}"
        )
    if not keys:
        return _ref_error(  # (unconfirmed)
            f"No field provided in the external foreign key reference {rel_name} to entity: {parent.name}"
        )
    codec = parent.codecs[keys[0].lower()]
    if not _is_indexed(codec.field):
        return _ref_error(_not_indexed(codec.field, parent))
    try:
        key = codec.from_json(value[keys[0]])
    except FieldValueError as e:
        return e.error
    return Ref(rel, parent, codec.field, key)


def bulk_ref_column(store: Store, table: Table, name: str) -> tuple[FieldDef, Table, FieldDef] | None:
    """Compile a Bulk header ``[ObjectType:]RelationshipName.IndexedField`` to (reference field, parent
    table, parent field); None when ``name`` is no relationship column. Raises ``InvalidBatch`` errors."""
    if "." not in name:
        return None
    kind, colon, path = name.rpartition(":") if ":" in name.partition(".")[0] else ("", "", name)
    rel_name, _, parent_field = path.partition(".")
    rel = table.by_relationship.get(rel_name.lower())
    if rel is None:
        if colon:  # what a real org answers for an unknown relationship after a type (recorded, see docs)
            raise invalid_batch(f"Unable to find relationship: {rel_name}")
        raise invalid_batch(f"Field name not found : {name}")
    polymorphic = len(rel.reference_to) > 1
    if colon and not polymorphic:
        # recorded real answer for a type on a single-target relationship
        raise invalid_batch(f"type is not needed for non polymorphic foreign key references: {rel_name}")
    if polymorphic and not colon:
        raise invalid_batch(  # (unconfirmed)
            f"{rel_name} is a polymorphic relationship ({', '.join(rel.reference_to)}): name the parent "
            f"object in the header, like {rel.reference_to[-1]}:{rel_name}.{parent_field}"
        )
    parent = store.table(kind if colon else rel.reference_to[0])
    if parent is None or parent.name not in rel.reference_to:
        raise invalid_batch(  # (unconfirmed)
            f"{kind} is not a valid type for the relationship {rel_name}: it refers to "
            f"{', '.join(rel.reference_to)}"
        )
    codec = parent.codec(parent_field)
    if codec is None or "." in parent_field:
        raise invalid_batch(f"Field name not found : {name}")
    if not _is_indexed(codec.field):
        raise invalid_batch(_not_indexed(codec.field, parent))
    return rel, parent, codec.field


def resolve_refs(store: Store, items: list[Pending]) -> None:
    """Turn every pending reference into the parent's record id (one query per parent field), or fail the
    record when no parent (or more than one) has that value."""
    groups: dict[tuple[str, str], list[tuple[Pending, Ref]]] = {}
    for p in items:
        for r in p.refs or ():
            groups.setdefault((r.parent.name, r.ext.name), []).append((p, r))
    for pairs in groups.values():
        parent, ext = pairs[0][1].parent, pairs[0][1].ext
        cs = ext.case_sensitive or ext.type == "id"
        keys = {r.value for _, r in pairs if r.value is not None}
        found: dict[Any, list[str]] = {}
        sql = (
            f"SELECT {quote(ext.name)}, Id FROM {parent.sql} "
            f"WHERE {quote(ext.name)} IN (SELECT value FROM json_each(?)) AND IsDeleted = 0"
        )
        for value, rid in store.conn.execute(sql, (json_list(keys),)):
            found.setdefault(fold(value, cs), []).append(rid)
        for p, r in pairs:
            if p.error is not None:
                continue
            if r.value is None:
                p.values[r.field.name] = None
                continue
            match = found.get(fold(r.value, cs), [])
            if len(match) == 1:
                p.values[r.field.name] = match[0]
            elif not match:
                p.error = _ref_error(
                    f"Foreign key external ID: {r.value} not found for field {ext.name} "
                    f"in entity {parent.name}"
                )
            else:
                p.error = _ref_error(  # (unconfirmed)
                    f"Foreign key external ID: {r.value} matched more than one record for field {ext.name} "
                    f"in entity {parent.name}"
                )


def check_special_references(config: OrgConfig, table: Table, items: list[Pending]) -> None:
    """``RecordTypeId`` and ``OwnerId`` rules, for records whose other references are known to exist."""
    obj = table.obj
    types = {rt.id: rt for rt in obj.record_types}
    queues = {q.id: q for q in config.queues}
    users = {u.id: u for u in config.users}
    for p in items:
        if p.error is not None:
            continue
        rt_id = p.values.get("RecordTypeId")
        if rt_id is not None:
            rt = types.get(rt_id)
            if rt is None or not rt.active:
                p.error = RecordError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"Record Type ID: this ID value isn't valid for the user: {rt_id}",
                    ["RecordTypeId"],
                )
                continue
        owner = p.values.get("OwnerId")
        if owner is None:
            continue
        if owner in queues:
            continue  # a queue owns what its object's OwnerId lets it (the reference's key prefix check)
        if owner in users and not users[owner].active:
            p.error = RecordError(  # code of a real org; wording (unconfirmed)
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{owner}] as owner of {obj.name.lower()}",
                [],
            )


def apply_default_record_type(table: Table, creates: list[Pending]) -> None:
    """New records that name no record type get the object's default one (as the running user would)."""
    default = table.obj.default_record_type()
    if default is None:
        return
    for p in creates:
        if p.values.get("RecordTypeId") is None:
            p.values["RecordTypeId"] = default.id
