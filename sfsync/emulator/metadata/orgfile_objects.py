"""The ``objects`` section of an org file: custom fields on existing objects, custom objects and
picklist changes. Field specs become ``FieldDef`` through ``fieldkit.fld``, like the standard fields."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sfsync.emulator.metadata.fieldkit import DECIMAL_TYPES, SOAP_TYPES, fld, picklist_values
from sfsync.emulator.metadata.model import FieldDef, OrgConfig, RecordTypeDef, SObjectDef
from sfsync.emulator.metadata.orgfile_reader import Section
from sfsync.emulator.metadata.schema import custom_object, next_custom_prefix
from sfsync.emulator.metadata.setup_objects import record_type_field, record_type_id

#: Field types an org file may give a custom field (compound, id and anyType fields are the org's own).
CUSTOM_FIELD_TYPES = tuple(sorted(set(SOAP_TYPES) - {"id", "address", "location", "anyType"}))
#: Longest text field, long text area, and number precision Salesforce allows.
MAX_STRING_LENGTH = 255
MAX_TEXTAREA_LENGTH = 131072
MAX_PRECISION = 18
#: Fixed lengths of the text types whose length the org file cannot choose.
FIXED_LENGTHS = {
    "email": 80,
    "phone": 40,
    "url": 255,
    "picklist": 255,
    "multipicklist": 4099,
    "combobox": 255,
    "encryptedstring": 175,
    "base64": 0,
}
#: (precision, scale) a number field gets when the org file gives neither.
DEFAULT_NUMBER_SIZES = {"double": (18, 0), "currency": (18, 2), "percent": (18, 2)}
#: digits of an int/long field when not given, and the most allowed.
INT_DIGITS = {"int": (9, 9), "long": (18, 18)}

_API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*__c$")
_MAX_API_NAME = 43  # 40 characters + "__c"
_PREFIX = re.compile(r"^[A-Za-z0-9]{3}$")


_OBJECT_KEYS = ("label", "label_plural", "key_prefix", "fields", "picklists", "record_types")
_RECORD_TYPE_KEYS = ("developer_name", "label", "active", "default", "description")
_DEVELOPER_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*$")
#: Objects that cannot have record types (the org's own setup objects and users).
NO_RECORD_TYPES = frozenset({"User", "Organization", "Group", "RecordType"})
_FIELD_KEYS = (
    "type",
    "label",
    "length",
    "precision",
    "scale",
    "digits",
    "required",
    "unique",
    "external_id",
    "case_sensitive",
    "default",
    "values",
    "restricted",
    "reference_to",
    "relationship_name",
)
_PICKLIST_KEYS = ("values", "only", "restricted", "default")


def apply_objects(root: Section, config: OrgConfig) -> None:
    objects = root.items("objects", "object names to their settings")
    specs: list[tuple[SObjectDef, Section]] = []
    reserved = {str(v["key_prefix"]) for _, v in objects if isinstance(v, dict) and v.get("key_prefix")}
    for name, value in objects:  # first every object, so references may point at any of them
        spec = root.child(f"objects.{name}", {} if value is None else value, _OBJECT_KEYS)
        if spec is None:
            continue
        obj = config.object(name)
        if obj is None:
            obj = _new_custom_object(name, spec, config, reserved)
        else:
            for key in ("label", "label_plural", "key_prefix"):
                if key in spec.data and not obj.custom:
                    spec.fail(
                        key,
                        f"{obj.name} is a standard object: its labels and key prefix are fixed; remove it",
                    )
        if obj is not None:
            specs.append((obj, spec))
    for obj, spec in specs:
        for fname, fvalue in spec.items("fields", "field names to their settings"):
            fspec = spec.child(f"fields.{fname}", fvalue, _FIELD_KEYS)
            if fspec is not None:
                _add_field(obj, fname, fspec, config)
        for pname, pvalue in spec.items("picklists", "picklist field names to their values"):
            pspec = spec.child(f"picklists.{pname}", pvalue, _PICKLIST_KEYS)
            if pspec is not None:
                _change_picklist(obj, pname, pspec)
        _add_record_types(obj, spec, config)


def _name_problem(name: str, what: str) -> str | None:
    if not _API_NAME.match(name):
        return (
            f"a custom {what} name is letters, digits and single underscores, starts with a letter and "
            f"ends with __c (like Tier__c)"
        )
    if len(name) > _MAX_API_NAME:
        return f"a custom {what} name has at most 40 characters before __c"
    return None


def _new_custom_object(name: str, spec: Section, config: OrgConfig, reserved: set[str]) -> SObjectDef | None:
    problem = _name_problem(name, "object")
    if problem is not None:
        if not name.endswith("__c"):
            problem = (
                f"the emulator has no standard object {name}; standard objects are "
                f"{', '.join(sorted(config.objects))}, and a custom object's name ends with __c"
            )
        spec.problems.append((spec.path, problem))
        return None
    prefix = spec.text("key_prefix")
    if isinstance(prefix, str):
        if not _PREFIX.match(prefix):
            spec.fail("key_prefix", "a key prefix has 3 letters or digits, like a07")
            prefix = None
        elif config.object_by_prefix(prefix) is not None:
            taken = config.object_by_prefix(prefix)
            spec.fail(
                "key_prefix",
                f"{prefix} is already the prefix of {taken.name if taken else '?'}; pick another",
            )
            prefix = None
    if not isinstance(prefix, str):
        prefix = next_custom_prefix(config, reserved)
    label = spec.text("label")
    plural = spec.text("label_plural")
    obj = custom_object(
        name,
        prefix,
        label=label if isinstance(label, str) else None,
        label_plural=plural if isinstance(plural, str) else None,
    )
    config.objects[name] = obj
    return obj


def _add_field(obj: SObjectDef, name: str, spec: Section, config: OrgConfig) -> None:
    existing = obj.field(name)
    if existing is not None:
        hint = (
            f"; to change its values use objects.{obj.name}.picklists.{existing.name}"
            if existing.type in ("picklist", "multipicklist")
            else "; rename the new field or remove the entry"
        )
        spec.problems.append((spec.path, f"{obj.name} already has a field {existing.name}{hint}"))
        return
    problem = _name_problem(name, "field")
    if problem is not None:
        spec.problems.append((spec.path, f"{problem}; only custom fields can be added"))
        return
    type_ = spec.text("type", required=True)
    if not isinstance(type_, str):
        return
    if type_ not in CUSTOM_FIELD_TYPES:
        spec.fail("type", f"unknown field type {type_!r}; use one of: {', '.join(CUSTOM_FIELD_TYPES)}")
        return
    built = _build_field(name, type_, spec, config)
    if built is not None:
        obj.fields[name] = built


def _build_field(name: str, type_: str, spec: Section, config: OrgConfig) -> FieldDef | None:
    before = len(spec.problems)
    flags = _field_flags(type_, spec)
    size = _field_size(type_, spec)
    values = _field_values(type_, spec)
    ref, rel = _field_reference(name, type_, spec, config)
    default = _field_default(type_, spec, values)
    label = spec.text("label")
    if len(spec.problems) > before:
        return None
    return fld(
        name,
        type_,
        size,
        " ".join(flags),
        label=label if isinstance(label, str) else None,
        values=values,
        default=default,
        ref=ref,
        rel=rel,
    )


def _field_flags(type_: str, spec: Section) -> list[str]:
    """The field's describe flags from the entry's booleans (required, external_id, unique, …)."""
    flags = ["custom"]
    if spec.flag("required", False):
        flags.append("req")
    if spec.flag("external_id", False):
        if type_ not in ("string", "email", "int", "double", "long"):
            spec.fail(
                "external_id", "only text, email and number fields can be external ids; change the type"
            )
        flags += ["ext", "idl"]
    if spec.flag("unique", False):
        flags.append("uniq")
    if spec.flag("case_sensitive", False):
        flags.append("cs")
    if spec.flag("restricted", False):
        if type_ not in ("picklist", "multipicklist"):
            spec.fail("restricted", "only picklist fields can be restricted; remove it or use type picklist")
        flags.append("restrict")
    return flags


def _field_values(type_: str, spec: Section) -> list[str]:
    """A picklist's values (none for other types, which must not list any)."""
    if type_ in ("picklist", "multipicklist", "combobox"):
        return _picklist_list(spec, "values", required=type_ != "combobox") or []
    if "values" in spec.data:
        spec.fail("values", f"only picklist fields have values; remove it or use type picklist (not {type_})")
    return []


def _field_reference(name: str, type_: str, spec: Section, config: OrgConfig) -> tuple[list[str], str | None]:
    """A reference field's target objects and relationship name (none for other types)."""
    if type_ != "reference":
        for key in ("reference_to", "relationship_name"):
            if key in spec.data:
                spec.fail(key, "only reference fields point at objects; remove it or use type reference")
        return [], None
    ref = _reference_to(spec, config)
    rel_given = spec.text("relationship_name")
    rel = rel_given if isinstance(rel_given, str) else name[:-3] + "__r"
    if not rel.endswith("__r"):
        spec.fail("relationship_name", f"a custom relationship name ends with __r, like {name[:-3]}__r")
    return ref, rel


def _field_size(type_: str, spec: Section) -> int | tuple[int, int]:
    for key, applies in (
        ("length", type_ in ("string", "textarea")),
        ("precision", type_ in DECIMAL_TYPES),
        ("scale", type_ in DECIMAL_TYPES),
        ("digits", type_ in ("int", "long")),
    ):
        if key in spec.data and not applies:
            spec.fail(key, f"a {type_} field has no {key}; remove it")
    if type_ == "string":
        length = spec.number("length", None, integer=True, low=1, high=MAX_STRING_LENGTH)
        if "length" not in spec.data:
            spec.fail("length", f"missing; a string field needs a length from 1 to {MAX_STRING_LENGTH}")
        return int(length or 1)
    if type_ == "textarea":
        return int(spec.number("length", 255, integer=True, low=1, high=MAX_TEXTAREA_LENGTH) or 255)
    if type_ in DECIMAL_TYPES:
        p0, s0 = DEFAULT_NUMBER_SIZES[type_]
        precision = spec.number("precision", p0, integer=True, low=1, high=MAX_PRECISION)
        scale = spec.number("scale", s0, integer=True, low=0, high=MAX_PRECISION)
        if isinstance(precision, int) and isinstance(scale, int) and scale > precision:
            spec.fail(
                "scale", f"scale {scale} exceeds precision {precision}; lower it or raise the precision"
            )
        return (int(precision or p0), int(scale or 0))
    if type_ in INT_DIGITS:
        default, most = INT_DIGITS[type_]
        return int(spec.number("digits", default, integer=True, low=1, high=most) or default)
    return FIXED_LENGTHS.get(type_, 0)


def _picklist_list(spec: Section, key: str, *, required: bool) -> list[str] | None:
    raw = spec.get(key, list, "a list of values, like [Gold, Silver]", None, required=required)
    if not isinstance(raw, list):
        return None
    out: list[str] = []
    for i, v in enumerate(raw):
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            spec.fail(f"{key}[{i}]", f"{v!r} is not a text value; quote it (YAML reads Yes/No as true/false)")
        elif str(v) in out:
            spec.fail(f"{key}[{i}]", f"{v} is listed twice; remove the duplicate")
        else:
            out.append(str(v))
    if required and not out and not raw:
        spec.fail(key, "a picklist needs at least one value")
    return out


def _reference_to(spec: Section, config: OrgConfig) -> list[str]:
    raw = spec.get("reference_to", (str, list), "an object name or a list of them", None, required=True)
    names = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    out: list[str] = []
    for n in names:
        target = config.object(str(n))
        if target is None:
            spec.fail(
                "reference_to", f"no object {n} in the org; use one of {', '.join(sorted(config.objects))}"
            )
        else:
            out.append(target.name)
    return out


def _field_default(type_: str, spec: Section, values: list[str]) -> Any:
    if "default" not in spec.data or spec.data["default"] is None:
        return None
    value = spec.data["default"]
    checks: dict[str, Callable[[Any], bool]] = {
        "boolean": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    }
    for t in DECIMAL_TYPES:
        checks[t] = lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if type_ in ("picklist", "multipicklist"):
        if str(value) not in values:
            spec.fail("default", f"{value!r} is not one of the values; use one of: {', '.join(values)}")
            return None
        return str(value)
    if type_ in checks:
        if not checks[type_](value):
            spec.fail("default", f"{value!r} does not fit a {type_} field; give a {type_} value")
            return None
        return value
    if type_ in ("reference", "date", "datetime", "time", "base64", "encryptedstring"):
        spec.fail("default", f"the emulator does not default {type_} fields; remove it")
        return None
    if isinstance(value, bool):
        spec.fail("default", "a text default must be quoted (YAML reads yes/no/true/false as booleans)")
        return None
    return str(value)


def _change_picklist(obj: SObjectDef, name: str, spec: Section) -> None:
    f = obj.field(name)
    if f is None or f.type not in ("picklist", "multipicklist"):
        what = "no field" if f is None else f"a {f.type} field, not a picklist,"
        picklists = sorted(g.name for g in obj.fields.values() if g.type in ("picklist", "multipicklist"))
        spec.problems.append(
            (spec.path, f"{obj.name} has {what} named {name}; picklists: {', '.join(picklists)}")
        )
        return
    if ("values" in spec.data) == ("only" in spec.data):
        spec.problems.append(
            (
                spec.path,
                "give exactly one of 'values' (replace the list) or 'only' (keep these existing values)",
            )
        )
        return
    current = [p.value for p in f.picklist_values]
    if "only" in spec.data:
        keep = _picklist_list(spec, "only", required=True) or []
        missing = [v for v in keep if v not in current]
        if missing:
            spec.fail(
                "only",
                f"{', '.join(missing)} not among the values of {obj.name}.{f.name}: "
                f"{', '.join(current)}; use 'values' to replace the list",
            )
            return
        new = keep
    else:
        new = _picklist_list(spec, "values", required=True) or []
    if not new:
        return
    default = f.default_value if f.default_value in new else None
    if "default" in spec.data:
        given = spec.data["default"]
        if given is not None and str(given) not in new:
            spec.fail("default", f"{given!r} is not one of the values; use one of: {', '.join(new)}")
            return
        default = None if given is None else str(given)
    elif f.default_value is not None and default is None and not f.nillable:
        spec.fail(
            "default", f"{f.name} is required and its default {f.default_value!r} is gone; give a default"
        )
        return
    labels = {p.value: p.label or p.value for p in f.picklist_values}
    f.picklist_values = picklist_values([(v, labels.get(v, v)) for v in new], default)
    f.default_value = default
    f.defaulted_on_create = default is not None
    f.restricted_picklist = spec.flag("restricted", f.restricted_picklist)


def _add_record_types(obj: SObjectDef, spec: Section, config: OrgConfig) -> None:
    """``objects.X.record_types``: a list of record types; the object gains a ``RecordTypeId`` field."""
    if "record_types" not in spec.data:
        return
    if obj.name in NO_RECORD_TYPES:
        spec.fail("record_types", f"{obj.name} cannot have record types; declare them on business objects")
        return
    entries = spec.entries("record_types", _RECORD_TYPE_KEYS)
    taken = sum(len(o.record_types) for o in config.objects.values())
    added: list[RecordTypeDef] = []
    for entry in entries:
        dev = entry.text("developer_name", required=True)
        if not isinstance(dev, str):
            continue
        if not _DEVELOPER_NAME.match(dev) or len(dev) > 80 or dev.lower() == "master":
            entry.fail(
                "developer_name",
                f"{dev!r} is not a record type developer name: letters, digits and single underscores, "
                "starting with a letter (Master is the org's own)",
            )
            continue
        if any(r.developer_name.lower() == dev.lower() for r in (*obj.record_types, *added)):
            entry.fail("developer_name", f"{obj.name} already has a record type {dev}; names are unique")
            continue
        label = entry.text("label")
        description = entry.text("description")
        taken += 1
        added.append(
            RecordTypeDef(
                id=record_type_id(taken),
                developer_name=dev,
                label=label if isinstance(label, str) else dev.replace("_", " "),
                active=entry.flag("active", True),
                default=entry.flag("default", False),
                description=description if isinstance(description, str) else None,
            )
        )
    if sum(r.default for r in added) > 1:
        spec.fail("record_types", "more than one record type says default: true; keep one")
        return
    if added and not any(r.active for r in (*obj.record_types, *added)):
        spec.fail("record_types", "every record type is inactive; new records need an active one")
        return
    obj.record_types.extend(added)
    if added and "RecordTypeId" not in obj.fields:
        obj.fields["RecordTypeId"] = record_type_field()
