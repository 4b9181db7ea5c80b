"""Builders for field definitions: one short call per field, with the defaults a real org applies per type.

``standard_objects`` describes the standard objects with these, ``orgfile`` builds custom fields and
custom objects with them, so a field looks the same whichever way it entered the org.

Flags (space-separated words in ``flags``):

=============  ==========================================================================
``req``        not nillable (required on create unless also ``def``)
``ro``         neither createable nor updateable (system, formula, compound fields)
``nocreate``   not createable (updateable only)
``noupdate``   createable but not updateable (set on create only)
``def``        defaulted on create (the org fills it when the request leaves it out)
``idl``        idLookup: usable as the key of an upsert
``ext``        externalId
``uniq``       unique
``cs``         case-sensitive
``name``       the object's name field
``calc``       calculated (formula) field; implies ``ro``
``auto``       auto-number; implies ``ro``, ``def``, ``req``
``restrict``   restricted picklist
``nofilter``   not filterable
``filter``     filterable although a text area longer than 255 (a few standard text areas are)
``custom``     custom field (``__c``)
=============  ==========================================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sfsync.emulator.metadata.model import FieldDef, PicklistValue

#: Every describe ``type`` the emulator knows, with its SOAP type.
SOAP_TYPES: dict[str, str] = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "combobox": "xsd:string",
    "encryptedstring": "xsd:string",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "long": "xsd:long",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "time": "xsd:time",
    "base64": "xsd:base64Binary",
    "address": "urn:address",
    "location": "urn:location",
    "anyType": "xsd:anyType",
}

#: Types whose values are text: ``length`` counts characters and ``byteLength`` is three times it.
TEXT_TYPES = frozenset(
    {
        "string",
        "textarea",
        "email",
        "phone",
        "url",
        "picklist",
        "multipicklist",
        "combobox",
        "encryptedstring",
    }
)
#: Types that carry ``precision``/``scale``.
DECIMAL_TYPES = frozenset({"double", "currency", "percent"})
#: Compound types: read-only views over component fields.
COMPOUND_TYPES = frozenset({"address", "location"})

#: Length a text field gets when its definition does not say (what Salesforce uses for these types).
DEFAULT_LENGTHS: dict[str, int] = {
    "id": 18,
    "reference": 18,
    "email": 80,
    "phone": 40,
    "url": 255,
    "picklist": 255,
    "multipicklist": 4099,
    "combobox": 255,
    "textarea": 255,
    "encryptedstring": 175,
}
#: ``digits`` of an int field when not given; ``long`` fields get 18.
DEFAULT_INT_DIGITS = 9
#: (precision, scale) of a number field when not given.
DEFAULT_DECIMAL = (18, 0)

_FLAGS = frozenset(
    {
        "req",
        "ro",
        "nocreate",
        "noupdate",
        "def",
        "idl",
        "ext",
        "uniq",
        "cs",
        "name",
        "calc",
        "auto",
        "restrict",
        "nofilter",
        "filter",
        "custom",
    }
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")


def label_for(name: str) -> str:
    """A label from an API name: ``BillingCity`` → ``Billing City``, ``OwnerId`` → ``Owner ID``."""
    base = name[:-3] if name.endswith("__c") else name
    words = _WORD.findall(base.replace("_", " ")) or [base]
    if len(words) > 1 and words[-1] == "Id":
        words[-1] = "ID"
    return " ".join(words)


#: A picklist entry as ``fld`` takes it: the value (labelled the same) or ``(value, label)``.
Choice = str | tuple[str, str]


def picklist_values(values: Iterable[Choice], default: str | None = None) -> list[PicklistValue]:
    """Active picklist entries; a plain string is labelled with itself. ``default`` marks the default."""
    out = []
    for v in values:
        value, label = (v, v) if isinstance(v, str) else v
        out.append(PicklistValue(value=value, label=label, active=True, default=(value == default)))
    return out


def fld(
    name: str,
    type_: str,
    size: int | tuple[int, int] = 0,
    flags: str = "",
    *,
    label: str | None = None,
    values: Sequence[Choice] = (),
    default: object | None = None,
    ref: str | Sequence[str] = (),
    rel: str | None = None,
) -> FieldDef:
    """One field. ``size`` is the length of text fields, ``digits`` of int/long, ``(precision, scale)`` of
    numbers; ``values`` are picklist values (``default`` names the default one and is applied on create);
    ``ref``/``rel`` are the referenced object(s) and the relationship name of a reference field."""
    if type_ not in SOAP_TYPES:
        raise ValueError(f"unknown field type {type_!r} for {name}; known: {', '.join(sorted(SOAP_TYPES))}")
    words = set(flags.split())
    unknown = words - _FLAGS
    if unknown:
        raise ValueError(f"unknown flags {sorted(unknown)} for field {name}")
    if words & {"calc", "auto"}:
        words.add("ro")
    if "auto" in words:
        words |= {"def", "req"}
    f = FieldDef(name=name, type=type_, label=label or label_for(name))
    if type_ in DECIMAL_TYPES:
        f.precision, f.scale = size if isinstance(size, tuple) else (size or DEFAULT_DECIMAL[0], 0)
    elif type_ in ("int", "long"):
        f.digits = (
            int(size) if isinstance(size, int) and size else (18 if type_ == "long" else DEFAULT_INT_DIGITS)
        )
    elif isinstance(size, int):
        f.length = size or DEFAULT_LENGTHS.get(type_, 0)
    f.nillable = "req" not in words and type_ not in ("boolean", "id")
    f.createable = not ({"ro", "nocreate"} & words) and type_ not in COMPOUND_TYPES | {"id"}
    f.updateable = not ({"ro", "noupdate"} & words) and type_ not in COMPOUND_TYPES | {"id"}
    f.defaulted_on_create = "def" in words or type_ in ("boolean", "id") or default is not None
    if type_ == "boolean":
        f.default_value = bool(default) if default is not None else False
    else:
        f.default_value = default
    f.external_id = "ext" in words
    f.id_lookup = "idl" in words or type_ == "id"
    f.unique = "uniq" in words
    f.case_sensitive = "cs" in words
    f.calculated = "calc" in words
    f.auto_number = "auto" in words
    f.custom = "custom" in words or name.endswith("__c")
    # Compound addresses filter (on distance); long text areas do not, except a few standard ones.
    f.filterable = (
        "nofilter" not in words
        and type_ != "location"
        and not (type_ == "textarea" and f.length > 255 and "filter" not in words)
    )
    f.name_field = "name" in words
    if values:
        f.picklist_values = picklist_values(values, default if isinstance(default, str) else None)
    f.restricted_picklist = "restrict" in words
    if ref:
        f.reference_to = [ref] if isinstance(ref, str) else list(ref)
        f.relationship_name = rel if rel is not None else _relationship_name(name)
    return f


def _relationship_name(name: str) -> str:
    """``AccountId`` → ``Account``; ``Account__c`` → ``Account__r``."""
    if name.endswith("__c"):
        return name[:-3] + "__r"
    return name[:-2] if name.endswith("Id") else name


def system_fields(id_label: str) -> list[FieldDef]:
    """The fields every object carries and nobody writes: Id, IsDeleted, audit dates and users."""
    return [
        fld("Id", "id", 18, "req def ro", label=id_label),
        fld("IsDeleted", "boolean", 0, "ro", label="Deleted"),
        fld("CreatedDate", "datetime", 0, "req def ro", label="Created Date"),
        fld("CreatedById", "reference", 18, "req def ro", ref="User", rel="CreatedBy", label="Created By ID"),
        fld("LastModifiedDate", "datetime", 0, "req def ro", label="Last Modified Date"),
        fld(
            "LastModifiedById",
            "reference",
            18,
            "req def ro",
            ref="User",
            rel="LastModifiedBy",
            label="Last Modified By ID",
        ),
        fld("SystemModstamp", "datetime", 0, "req def ro", label="System Modstamp"),
    ]


def address_fields(prefix: str, label_prefix: str, geocode_values: Sequence[Choice]) -> list[FieldDef]:
    """The parts of one postal address and its read-only compound field (``{prefix}Address``)."""
    lp = f"{label_prefix} " if label_prefix else ""
    return [
        fld(f"{prefix}Street", "textarea", 255, label=f"{lp}Street"),
        fld(f"{prefix}City", "string", 40, label=f"{lp}City"),
        fld(f"{prefix}State", "string", 80, label=f"{lp}State/Province"),
        fld(f"{prefix}PostalCode", "string", 20, label=f"{lp}Zip/Postal Code"),
        fld(f"{prefix}Country", "string", 80, label=f"{lp}Country"),
        fld(f"{prefix}Latitude", "double", (18, 15), label=f"{lp}Latitude"),
        fld(f"{prefix}Longitude", "double", (18, 15), label=f"{lp}Longitude"),
        fld(
            f"{prefix}GeocodeAccuracy",
            "picklist",
            40,
            "restrict",
            values=geocode_values,
            label=f"{lp}Geocode Accuracy",
        ),
        fld(f"{prefix}Address", "address", 0, "ro", label=f"{lp}Address".strip()),
    ]


def custom_id_field() -> FieldDef:
    """``External_Id__c``: the upsert key sfsync users add to their objects."""
    return fld("External_Id__c", "string", 255, "ext uniq idl custom", label="External Id")


def fields_by_name(fields: Iterable[FieldDef]) -> dict[str, FieldDef]:
    """Index fields by API name, refusing duplicates (a table typo would otherwise hide a field)."""
    out: dict[str, FieldDef] = {}
    for f in fields:
        if f.name in out:
            raise ValueError(f"field {f.name} is defined twice")
        out[f.name] = f
    return out
