"""Checks of a sync's ``on_row_removed`` against the object's describe (``sfsync check`` and every run).

The project file's own rules (an ``insert`` sync only keeps; ``set`` needs ``values``...) are checked when
the file is loaded (``sfsync.config.removals``); what needs the org is checked here: the fields exist, a
cleared field can be null and is one the sync maps, a set value fits its field, the object can be deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sfsync.config import Sync
from sfsync.config.mappings import ConstantValue
from sfsync.salesforce.describe import FieldInfo, ObjectDescribe, ObjectSummary
from sfsync.sync.references import map_specs


def object_describe(raw: Mapping[str, Any]) -> ObjectDescribe:
    """An :class:`ObjectDescribe` from an object's describe JSON."""
    return ObjectDescribe(
        ObjectSummary.from_json(raw), tuple(FieldInfo.from_json(f) for f in raw.get("fields") or []), raw
    )


def exact_field(describe: ObjectDescribe, name: str) -> str:
    """The field's API name as describe spells it (``name`` when describe does not list it)."""
    f = describe.field(name)
    return f.name if f is not None else name


def _key_field(sync: Sync) -> str:
    return sync.object_id.field.lower() if sync.object_id is not None else ""


def mapped_fields(sync: Sync, describe: ObjectDescribe) -> set[str]:
    """The fields the sync's mappings write (a lookup writes its reference field), lower case."""
    out: set[str] = set()
    for spec in map_specs(sync, describe):
        out.add(spec.map.field.lower())
        if spec.map.lookup is not None:
            out.add(spec.map.lookup.reference_field.lower())
    return out


def clear_fields(sync: Sync, describe: ObjectDescribe) -> list[str]:
    """The fields ``clear`` nulls: those listed, else every mapped field that can be null (not the object
    id, owners or record types)."""
    setting = sync.on_row_removed
    if setting.fields is not None:
        return [exact_field(describe, f) for f in setting.fields]
    out: list[str] = []
    for spec in map_specs(sync, describe):
        if spec.resolve is not None:
            continue
        name = spec.map.lookup.reference_field if spec.map.lookup is not None else spec.map.field
        f = describe.field(name)
        usable = f is not None and f.nillable and f.updateable and name.lower() != _key_field(sync)
        if usable and f is not None and f.name not in out:
            out.append(f.name)
    return out


def _clear_problems(sync: Sync, describe: ObjectDescribe) -> list[str]:
    obj = describe.name
    where = "on_row_removed.fields"
    mapped = mapped_fields(sync, describe)
    problems: list[str] = []
    for name in sync.on_row_removed.fields or []:
        f = describe.field(name)
        if f is None:
            problems.append(f"{where}: {obj} has no field {name!r}")
        elif name.lower() == _key_field(sync):
            problems.append(f"{where}: {name!r} is the object id; clearing it would lose the record")
        elif name.lower() not in mapped:
            problems.append(
                f"{where}: {name!r} is not a field this sync maps; clear only clears mapped fields"
            )
        elif not f.nillable or not f.updateable:
            problems.append(f"{where}: {obj}.{f.name} cannot be set to null (required or read-only)")
    if sync.on_row_removed.fields is None and not clear_fields(sync, describe):
        problems.append(f"on_row_removed: no mapped field of {obj} can be cleared; use set or delete")
    return problems


def _set_problems(sync: Sync, describe: ObjectDescribe) -> list[str]:
    obj = describe.name
    problems: list[str] = []
    for name, value in (sync.on_row_removed.values or {}).items():
        where = f"on_row_removed.values.{name}"
        f = describe.field(name)
        if f is None:
            problems.append(f"{where}: {obj} has no field {name!r}")
        elif not f.updateable:
            problems.append(f"{where}: {obj}.{f.name} is read-only (not updateable)")
        elif (why := value_mismatch(f.type, value)) is not None:
            problems.append(f"{where}: {why}")
    return problems


def removal_problems(sync: Sync, describe: ObjectDescribe) -> list[str]:
    """What is wrong with the sync's ``on_row_removed`` for this object (empty: nothing)."""
    action = sync.on_row_removed.action
    if action == "delete" and not describe.raw.get("deletable", True):
        return [f"on_row_removed: {describe.name} records cannot be deleted by this user (not deletable)"]
    if action == "clear":
        return _clear_problems(sync, describe)
    if action == "set":
        return _set_problems(sync, describe)
    return []


def value_mismatch(field_type: str, value: ConstantValue) -> str | None:
    """Why ``value`` cannot go to a field of ``field_type`` (None: it can)."""
    if field_type == "boolean" and not isinstance(value, bool):
        return f"a boolean field takes true or false, not {value!r}"
    if field_type in ("int", "double", "currency", "percent") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        return f"a {field_type} field takes a number, not {value!r}"
    if field_type == "date" and not (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return f"a date field takes a date (2024-01-31), not {value!r}"
    if field_type == "datetime" and not isinstance(value, dt.datetime):
        return f"a datetime field takes a timestamp (2024-01-31T10:00:00Z), not {value!r}"
    return None


__all__ = [
    "clear_fields",
    "exact_field",
    "mapped_fields",
    "object_describe",
    "removal_problems",
    "value_mismatch",
]
