"""Describe JSON exactly as Salesforce answers it: describeGlobal, sObject describe, basic info and the
``columnMetadata`` of a ``columns=true`` query.

Everything here is computed from the ``OrgConfig``: nothing is stored, so an org file's changes show up
at once. Child relationships come from every reference field of every object in the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sfsync.emulator.metadata.fieldkit import SOAP_TYPES, TEXT_TYPES
from sfsync.emulator.metadata.model import FieldDef, OrgConfig, SObjectDef

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sfsync.emulator.records.org import ColumnInfo

#: The id every org gives the Master record type.
MASTER_RECORD_TYPE_ID = "012000000000000AAA"
#: ``maxBatchSize`` of describeGlobal (records per sObject Collections call).
MAX_BATCH_SIZE = 200

#: Child relationship names of the standard references, as a real org names them ((child, field) → name).
#: A standard reference missing here has no child relationship name (``null``), like MasterRecordId.
STANDARD_CHILD_RELATIONSHIPS: dict[tuple[str, str], str] = {
    ("Account", "ParentId"): "ChildAccounts",
    ("Contact", "AccountId"): "Contacts",
    ("Case", "AccountId"): "Cases",
    ("Case", "ContactId"): "Cases",
    ("Case", "ParentId"): "Cases",
    ("Contract", "AccountId"): "Contracts",
    ("Contract", "CustomerSignedId"): "ContractsSigned",
    ("User", "ManagerId"): "ManagedUsers",
}
#: Standard references whose parent's deletion deletes the children (deleting an Account deletes its
#: Contacts, Cases and Contracts).
CASCADE_DELETES = frozenset({("Contact", "AccountId"), ("Case", "AccountId"), ("Contract", "AccountId")})
#: Objects that only the org itself maintains, and setup objects: not searchable, no layouts, no triggers.
SYSTEM_OBJECTS = frozenset({"Organization", "Group"})
#: Objects whose duplicates can be merged (recorded describes: Account, Contact, Lead; Case is not).
MERGEABLE = frozenset({"Account", "Contact", "Lead"})
#: Objects with Chatter feed tracking on, as recorded describes of new orgs show.
FEED_ENABLED = frozenset({"Account", "Contact", "Lead", "Case", "User"})
#: ``sobjectDescribeOption`` of a full describe (API 56.0 and later describe it; older versions omit it,
#: which clients ignore).
DESCRIBE_OPTION = "FULL"
#: Text areas up to this length sort and aggregate; up to 255 they also group (recorded describes:
#: Street 255 and Contract.SpecialTerms 4000 sort, the 32,000-character descriptions do not).
SORTABLE_TEXTAREA_MAX = 4000

_NUMBER_TYPES = frozenset({"int", "long", "double", "currency", "percent"})
_GROUPABLE_TYPES = frozenset(
    {"id", "reference", "string", "email", "phone", "url", "picklist", "combobox", "boolean", "int", "date"}
)
_NOT_SORTABLE_TYPES = frozenset({"multipicklist", "address", "location", "base64"})
_NOT_AGGREGATABLE_TYPES = frozenset(
    {"boolean", "multipicklist", "address", "location", "base64", "encryptedstring", "anyType"}
)
_PERSON_NAME_PARTS = ("FirstName", "LastName", "Salutation", "MiddleName", "Suffix")
_ADDRESS_PARTS = (
    "Street",
    "City",
    "State",
    "PostalCode",
    "Country",
    "Latitude",
    "Longitude",
    "GeocodeAccuracy",
)
_APEX_TYPES: dict[str, str] = {
    "id": "Id",
    "reference": "Id",
    "boolean": "Boolean",
    "int": "Integer",
    "long": "Long",
    "double": "Double",
    "percent": "Double",
    "currency": "Decimal",
    "date": "Date",
    "datetime": "Datetime",
    "time": "Time",
    "base64": "Blob",
    "address": "Address",
    "location": "Location",
    "anyType": "Object",
}


def _base(version: str) -> str:
    return f"/services/data/v{version.lstrip('v')}"


def _object(config: OrgConfig, name: str) -> SObjectDef:
    obj = config.object(name)
    if obj is None:
        raise KeyError(f"object {name!r} is not in the org; known: {', '.join(sorted(config.objects))}")
    return obj


def _ownable(obj: SObjectDef) -> bool:
    return "OwnerId" in obj.fields


def _global_entry(obj: SObjectDef, version: str) -> dict[str, Any]:
    """The keys describeGlobal lists per object (and ``objectDescribe`` of basic info)."""
    base = f"{_base(version)}/sobjects/{obj.name}"
    system = obj.name in SYSTEM_OBJECTS
    urls = {"rowTemplate": f"{base}/{{ID}}", "describe": f"{base}/describe", "sobject": base}
    if obj.createable:
        urls["defaultValues"] = f"{base}/defaultValues?recordTypeId&fields"
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": obj.name in FEED_ENABLED,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label or obj.name,
        "labelPlural": obj.label_plural or f"{obj.label or obj.name}s",
        "layoutable": not system,
        "mergeable": obj.name in MERGEABLE,
        "mruEnabled": not system,
        "name": obj.name,
        "queryable": obj.queryable,
        "replicateable": not system,
        "retrieveable": True,
        "searchable": not system,
        "triggerable": not system,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": urls,
    }


def describe_global(config: OrgConfig, version: str) -> dict[str, Any]:
    """``GET /services/data/vXX.X/sobjects``: every object of the org, sorted by name as Salesforce does."""
    objects = sorted(config.objects.values(), key=lambda o: o.name.lower())
    return {
        "encoding": "UTF-8",
        "maxBatchSize": MAX_BATCH_SIZE,
        "sobjects": [_global_entry(o, version) for o in objects],
    }


def basic_info(config: OrgConfig, name: str, version: str, recent_items: list[Any]) -> dict[str, Any]:
    """``GET /sobjects/{Obj}``: the object's describeGlobal entry and its recently viewed records."""
    return {"objectDescribe": _global_entry(_object(config, name), version), "recentItems": recent_items}


def child_relationship_name(config: OrgConfig, child: SObjectDef, f: FieldDef) -> str | None:
    """The name the parent uses for the children pointing at it through ``f`` (``Contacts``), or None.

    Standard references follow ``STANDARD_CHILD_RELATIONSHIPS``; a custom reference is named after the
    child's plural label, as Salesforce proposes when the field is created: ``Invoices__r``."""
    if not f.custom:
        return STANDARD_CHILD_RELATIONSHIPS.get((child.name, f.name))
    plural = "".join(ch for ch in (child.label_plural or child.name) if ch.isalnum() or ch == "_")
    base = plural.removesuffix("__c")
    siblings = [
        g
        for g in child.fields.values()
        if g.custom and g.type == "reference" and set(g.reference_to) & set(f.reference_to)
    ]
    if len(siblings) > 1:  # two lookups to one parent need two names
        base = f"{f.name.removesuffix('__c')}_{base}"
    return f"{base}__r"


def child_relationships(config: OrgConfig, name: str) -> list[dict[str, Any]]:
    """Every reference field in the org that points at ``name``, as describe lists them."""
    parent = _object(config, name)
    out: list[dict[str, Any]] = []
    for child in sorted(config.objects.values(), key=lambda o: o.name.lower()):
        for f in child.fields.values():
            if f.type != "reference" or parent.name not in f.reference_to:
                continue
            out.append(
                {
                    "associatedEntityType": None,
                    "cascadeDelete": (child.name, f.name) in CASCADE_DELETES,
                    "childSObject": child.name,
                    "deprecatedAndHidden": False,
                    "field": f.name,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": child_relationship_name(config, child, f),
                    "restrictedDelete": False,
                }
            )
    return out


def _compound_name(obj: SObjectDef, f: FieldDef) -> str | None:
    """``BillingAddress`` for ``BillingCity``; ``Name`` for the parts of a person's name."""
    for part in _ADDRESS_PARTS:
        if f.name.endswith(part):
            compound = f.name[: -len(part)] + "Address"
            target = obj.fields.get(compound)
            if target is not None and target.type == "address":
                return compound
    name = obj.fields.get("Name")
    if f.name in _PERSON_NAME_PARTS and name is not None and not name.createable:
        return "Name"
    return None


def _extra_type_info(obj: SObjectDef, f: FieldDef) -> str | None:
    if f.type == "textarea":
        return "plaintextarea"
    if f.type == "url" and f.name == "PhotoUrl":
        return "imageurl"
    if f.name == "Name" and f.type == "string" and not f.createable and "LastName" in obj.fields:
        return "personname"
    return None


def _default_value(f: FieldDef) -> Any:
    """Field-level ``defaultValue``: booleans and plain defaults; for a picklist the value of its default
    entry (recorded: Lead.Status ``Open - Not Contacted``, Case.Status ``New``)."""
    if f.type in ("picklist", "multipicklist"):
        return next((p.value for p in f.picklist_values if p.default), None)
    return f.default_value


def _byte_length(f: FieldDef) -> int:
    if f.type in TEXT_TYPES:
        return f.length * 3
    if f.type in ("id", "reference"):
        return f.length or 18
    return 0


def describe_field(obj: SObjectDef, f: FieldDef) -> dict[str, Any]:
    """One entry of ``fields[]`` with every key a real describe carries, in Salesforce's (sorted) order."""
    if f.type == "textarea":  # Case.Comments (4000) sorts although it does not filter
        sortable = f.filterable or (not f.custom and f.length <= SORTABLE_TEXTAREA_MAX)
        groupable = f.filterable and f.length <= 255
    else:
        sortable = f.filterable and f.type not in _NOT_SORTABLE_TYPES
        groupable = f.filterable and f.type in _GROUPABLE_TYPES
    system = not f.createable and not f.updateable and not f.calculated and not f.nillable
    return {
        "aggregatable": sortable and f.type not in _NOT_AGGREGATABLE_TYPES,
        "aiPredictionField": False,
        "autoNumber": f.auto_number,
        "byteLength": _byte_length(f),
        "calculated": f.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": f.case_sensitive,
        "compoundFieldName": _compound_name(obj, f),
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": _default_value(f),
        "defaultValueFormula": None,
        "defaultedOnCreate": f.defaulted_on_create,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": f.digits,
        "displayLocationInDecimal": False,
        "encrypted": f.type == "encryptedstring",
        "externalId": f.external_id,
        "extraTypeInfo": _extra_type_info(obj, f),
        "filterable": f.filterable,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": groupable,
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.id_lookup,
        "inlineHelpText": None,
        "label": f.label or f.name,
        "length": f.length,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": len(f.reference_to) > 1,
        "nillable": f.nillable,
        "permissionable": f.nillable and not system and (f.createable or f.updateable or f.calculated),
        "picklistValues": [
            {
                "active": p.active,
                "defaultValue": p.default,
                "label": p.label,
                "validFor": None,
                "value": p.value,
            }
            for p in f.picklist_values
        ],
        "polymorphicForeignKey": len(f.reference_to) > 1,
        "precision": f.precision,
        "queryByDistance": f.type == "location",
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name if f.type == "reference" else None,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": f.restricted_picklist,
        "scale": f.scale,
        "searchPrefilterable": f.type == "reference" and (f.createable or f.updateable),
        "soapType": SOAP_TYPES.get(f.type, "xsd:anyType"),
        "sortable": sortable,
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def record_type_infos(obj: SObjectDef, base: str) -> list[dict[str, Any]]:
    """``recordTypeInfos``: the object's record types, then Master (the only one when it has none).

    The default record type carries ``defaultRecordTypeMapping``; Master stays listed and available, as in
    a recorded real describe (CumulusCI ``tests/shared_cassettes/GET_sobjects_Account_describe.yaml``)."""
    default = obj.default_record_type()
    infos = [
        {
            "active": rt.active,
            "available": rt.active,
            "defaultRecordTypeMapping": default is not None and rt.id == default.id,
            "developerName": rt.developer_name,
            "master": False,
            "name": rt.label,
            "recordTypeId": rt.id,
            "urls": {"layout": f"{base}/describe/layouts/{rt.id}"},
        }
        for rt in obj.record_types
    ]
    infos.append(
        {
            "active": True,
            "available": True,
            "defaultRecordTypeMapping": default is None,
            "developerName": "Master",
            "master": True,
            "name": "Master",
            "recordTypeId": MASTER_RECORD_TYPE_ID,
            "urls": {"layout": f"{base}/describe/layouts/{MASTER_RECORD_TYPE_ID}"},
        }
    )
    return infos


def describe_sobject(config: OrgConfig, name: str, version: str) -> dict[str, Any]:
    """``GET /sobjects/{Obj}/describe``: object keys, fields, childRelationships, recordTypeInfos."""
    obj = _object(config, name)
    base = f"{_base(version)}/sobjects/{obj.name}"
    out = _global_entry(obj, version)
    label_plural = out["labelPlural"]
    scopes = [{"label": f"All {label_plural.lower()}", "name": "everything"}]
    if _ownable(obj):
        scopes.append({"label": f"My {label_plural.lower()}", "name": "mine"})
    out.update(
        {
            "actionOverrides": [],
            "childRelationships": child_relationships(config, obj.name),
            "compactLayoutable": obj.name not in SYSTEM_OBJECTS,
            "dataTranslationEnabled": False,
            "defaultImplementation": None,
            "extendedBy": None,
            "extendsInterfaces": None,
            "fields": [describe_field(obj, f) for f in obj.fields.values()],
            "implementedBy": None,
            "implementsInterfaces": None,
            "listviewable": None,
            "lookupLayoutable": None,
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "recordTypeInfos": record_type_infos(obj, base),
            "searchLayoutable": obj.name not in SYSTEM_OBJECTS,
            "sobjectDescribeOption": DESCRIBE_OPTION,
            "supportedScopes": scopes,
        }
    )
    out["urls"] = {
        **out["urls"],
        "compactLayouts": f"{base}/describe/compactLayouts",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "listviews": f"{base}/listviews",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
    }
    return dict(sorted(out.items()))


# ---- columns=true ----------------------------------------------------------------------------------
def _column(
    name: str,
    display: str,
    f: FieldDef | None,
    *,
    joined: bool,
    aggregate: bool = False,
    children: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    t = f.type if f is not None else None
    return {
        "aggregate": aggregate,
        "apexType": (_APEX_TYPES.get(t, "String") if t is not None else ("Integer" if aggregate else None)),
        "booleanType": t == "boolean",
        "columnName": name,
        "custom": f.custom if f is not None else name.endswith("__r"),
        "displayName": display,
        "foreignKeyName": None,
        "insertable": bool(f is not None and f.createable and not joined),
        "joinColumns": children or [],
        "numberType": t in _NUMBER_TYPES or (t is None and aggregate),
        "textType": t in TEXT_TYPES,
        "updatable": bool(f is not None and f.updateable and not joined),
    }


def _is_alias(path: str) -> bool:
    return path.replace("_", "").isalnum()


def column_metadata(columns: Sequence[ColumnInfo]) -> list[dict[str, Any]]:
    """The ``columnMetadata`` list of ``GET /query?q=...&columns=true``.

    Parent fields are grouped under one column per relationship (``Account`` with ``joinColumns``
    ``[Name, Owner[...]]``), at the position of its first use, the way the ``sf`` CLI reads them back
    into ``Account.Name``. A column without a field is an aggregate: named ``exprN`` (displayName the
    expression) unless its path is an alias, which then names it."""
    tree: dict[str, Any] = {}  # name -> ColumnInfo (leaf) or nested dict (relationship)
    for c in columns:
        parts = c.path.split(".") if c.field is not None else [c.path]
        node = tree
        for rel in parts[:-1]:
            child = node.get(rel)
            if not isinstance(child, dict):
                child = node[rel] = {}
            node = child
        node[parts[-1]] = c
    expr = 0

    def render(node: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
        nonlocal expr
        out: list[dict[str, Any]] = []
        for name, item in node.items():
            display = f"{prefix}{name}"
            if isinstance(item, dict):
                out.append(_column(name, display, None, joined=True, children=render(item, f"{display}.")))
            elif item.field is None:
                if _is_alias(name):
                    out.append(_column(name, name, None, joined=False, aggregate=True))
                else:
                    out.append(_column(f"expr{expr}", name, None, joined=False, aggregate=True))
                    expr += 1
            else:
                out.append(_column(item.field.name, display, item.field, joined=bool(prefix)))
        return out

    return render(tree, "")
