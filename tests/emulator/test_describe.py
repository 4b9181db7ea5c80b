"""Describe JSON rendered from the org config: the shapes real Salesforce clients read."""

from __future__ import annotations

from typing import Any

import pytest

from sfsync.emulator.endpoints.describe import (
    MASTER_RECORD_TYPE_ID,
    basic_info,
    column_metadata,
    describe_global,
    describe_sobject,
)
from sfsync.emulator.metadata.fieldkit import SOAP_TYPES, fld
from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.metadata.schema import custom_object, default_org
from sfsync.emulator.records.org import ColumnInfo

VERSION = "59.0"
FIELD_KEYS = {
    "aggregatable",
    "aiPredictionField",
    "autoNumber",
    "byteLength",
    "calculated",
    "calculatedFormula",
    "cascadeDelete",
    "caseSensitive",
    "compoundFieldName",
    "controllerName",
    "createable",
    "custom",
    "defaultValue",
    "defaultValueFormula",
    "defaultedOnCreate",
    "dependentPicklist",
    "deprecatedAndHidden",
    "digits",
    "displayLocationInDecimal",
    "encrypted",
    "externalId",
    "extraTypeInfo",
    "filterable",
    "filteredLookupInfo",
    "formulaTreatNullNumberAsZero",
    "groupable",
    "highScaleNumber",
    "htmlFormatted",
    "idLookup",
    "inlineHelpText",
    "label",
    "length",
    "mask",
    "maskType",
    "name",
    "nameField",
    "namePointing",
    "nillable",
    "permissionable",
    "picklistValues",
    "polymorphicForeignKey",
    "precision",
    "queryByDistance",
    "referenceTargetField",
    "referenceTo",
    "relationshipName",
    "relationshipOrder",
    "restrictedDelete",
    "restrictedPicklist",
    "scale",
    "searchPrefilterable",
    "soapType",
    "sortable",
    "type",
    "unique",
    "updateable",
    "writeRequiresMasterRead",
}
GLOBAL_KEYS = {
    "name",
    "label",
    "labelPlural",
    "keyPrefix",
    "custom",
    "createable",
    "updateable",
    "deletable",
    "queryable",
    "retrieveable",
    "searchable",
    "layoutable",
    "triggerable",
    "urls",
}


def _fields(describe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in describe["fields"]}


def _required(describe: dict[str, Any]) -> list[str]:
    return sorted(
        f["name"]
        for f in describe["fields"]
        if f["createable"] and not f["nillable"] and not f["defaultedOnCreate"]
    )


@pytest.mark.parametrize(
    ("obj", "required"),
    [
        ("Account", ["Name"]),
        ("Contact", ["LastName"]),
        ("Lead", ["Company", "LastName"]),
        ("Case", []),
        ("Contract", ["AccountId"]),
    ],
)
def test_required_on_create_through_describe(obj: str, required: list[str]) -> None:
    assert _required(describe_sobject(default_org(), obj, VERSION)) == required


def test_describe_global() -> None:
    body = describe_global(default_org(), VERSION)
    assert body["encoding"] == "UTF-8" and body["maxBatchSize"] == 200
    by_name = {o["name"]: o for o in body["sobjects"]}
    assert {n: o["keyPrefix"] for n, o in by_name.items()} == {
        "Account": "001",
        "Case": "500",
        "Contact": "003",
        "Contract": "800",
        "Group": "00G",
        "Lead": "00Q",
        "Organization": "00D",
        "RecordType": "012",
        "User": "005",
        "AssignmentRule": "01Q",
        "DuplicateRule": "0Bm",
    }
    assert not by_name["DuplicateRule"]["createable"] and by_name["DuplicateRule"]["queryable"]
    account = by_name["Account"]
    assert set(account) >= GLOBAL_KEYS
    assert account["urls"]["sobject"] == "/services/data/v59.0/sobjects/Account"
    assert account["urls"]["describe"] == "/services/data/v59.0/sobjects/Account/describe"
    assert account["urls"]["rowTemplate"] == "/services/data/v59.0/sobjects/Account/{ID}"
    assert account["createable"] and account["queryable"] and not account["custom"]
    assert not by_name["Organization"]["createable"] and not by_name["User"]["deletable"]


def test_describe_sobject_shape() -> None:
    d = describe_sobject(default_org(), "account", "v62.0")  # case-insensitive name, either version form
    assert d["name"] == "Account" and d["keyPrefix"] == "001" and d["labelPlural"] == "Accounts"
    assert set(d) >= GLOBAL_KEYS
    assert d["urls"]["describe"] == "/services/data/v62.0/sobjects/Account/describe"
    for f in d["fields"]:
        assert set(f) == FIELD_KEYS, f["name"]
    [master] = d["recordTypeInfos"]
    assert master["master"] and master["name"] == "Master" and master["recordTypeId"] == MASTER_RECORD_TYPE_ID
    fields = _fields(d)
    assert d["fields"][0]["name"] == "Id"
    assert fields["Id"]["type"] == "id" and fields["Id"]["soapType"] == "tns:ID" and fields["Id"]["idLookup"]
    assert fields["Name"]["nameField"] and fields["Name"]["byteLength"] == 765
    assert fields["BillingCity"]["compoundFieldName"] == "BillingAddress"
    assert (
        fields["BillingAddress"]["soapType"] == "urn:address" and not fields["BillingAddress"]["createable"]
    )
    owner = fields["OwnerId"]
    assert (
        owner["referenceTo"] == ["User"]
        and owner["relationshipName"] == "Owner"
        and owner["defaultedOnCreate"]
    )


def test_unknown_object_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="Opportunity"):
        describe_sobject(default_org(), "Opportunity", VERSION)


@pytest.mark.parametrize("obj", ["Account", "Contact", "Lead", "Case", "Contract"])
def test_external_id_in_describe(obj: str) -> None:
    f = _fields(describe_sobject(default_org(), obj, VERSION))["External_Id__c"]
    assert (f["type"], f["length"], f["byteLength"], f["soapType"]) == ("string", 255, 765, "xsd:string")
    assert f["externalId"] and f["unique"] and f["idLookup"] and f["custom"] and f["nillable"]
    assert not f["caseSensitive"] and f["createable"] and f["updateable"] and f["filterable"]


EXPECTED_SOAP = {
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


def test_soap_type_for_every_type() -> None:
    assert set(EXPECTED_SOAP) == set(SOAP_TYPES)
    org = default_org()
    obj = custom_object("Every__c", "a00")
    for t in EXPECTED_SOAP:
        if t != "id":
            extra: dict[str, Any] = {"ref": "Account"} if t == "reference" else {}
            obj.fields[f"F_{t}__c"] = fld(f"F_{t}__c", t, **extra)
    org.objects[obj.name] = obj
    got = {f["type"]: f["soapType"] for f in describe_sobject(org, "Every__c", VERSION)["fields"]}
    assert got == EXPECTED_SOAP


def test_lengths_and_numbers() -> None:
    fields = _fields(describe_sobject(default_org(), "Account", VERSION))
    revenue, employees, lat = fields["AnnualRevenue"], fields["NumberOfEmployees"], fields["BillingLatitude"]
    assert (revenue["type"], revenue["precision"], revenue["scale"], revenue["byteLength"]) == (
        "currency",
        18,
        0,
        0,
    )
    assert (employees["type"], employees["digits"], employees["soapType"]) == ("int", 8, "xsd:int")
    assert (lat["precision"], lat["scale"]) == (18, 15)
    assert fields["ParentId"]["byteLength"] == 18 and fields["ParentId"]["length"] == 18
    assert fields["Description"]["length"] == 32000 and not fields["Description"]["filterable"]


def test_picklists_in_describe() -> None:
    lead = _fields(describe_sobject(default_org(), "Lead", VERSION))
    status = lead["Status"]
    assert status["type"] == "picklist" and not status["nillable"] and status["defaultedOnCreate"]
    first = status["picklistValues"][0]
    assert first == {
        "active": True,
        "defaultValue": True,
        "label": "Open - Not Contacted",
        "validFor": None,
        "value": "Open - Not Contacted",
    }
    assert [p["value"] for p in status["picklistValues"] if p["defaultValue"]] == ["Open - Not Contacted"]
    assert status["defaultValue"] == "Open - Not Contacted"  # the field repeats its default entry
    assert lead["HasOptedOutOfEmail"]["defaultValue"] is False
    # recorded describes: IsConverted is set on create (defaulted false) and never updated
    converted = lead["IsConverted"]
    assert converted["createable"] and not converted["updateable"] and converted["defaultedOnCreate"]


def test_child_relationships() -> None:
    org = default_org()
    invoice = custom_object("Invoice__c", "a00", label="Invoice", label_plural="Invoices")
    invoice.fields["Account__c"] = fld("Account__c", "reference", ref="Account")
    org.objects["Invoice__c"] = invoice
    rels = describe_sobject(org, "Account", VERSION)["childRelationships"]
    by_key = {(r["childSObject"], r["field"]): r for r in rels}
    contacts = by_key[("Contact", "AccountId")]
    assert contacts["relationshipName"] == "Contacts" and contacts["cascadeDelete"] is True
    assert by_key[("Case", "AccountId")]["relationshipName"] == "Cases"
    assert by_key[("Contract", "AccountId")]["relationshipName"] == "Contracts"
    assert by_key[("Account", "ParentId")]["relationshipName"] == "ChildAccounts"
    assert by_key[("Invoice__c", "Account__c")]["relationshipName"] == "Invoices__r"
    assert by_key[("Invoice__c", "Account__c")]["cascadeDelete"] is False
    user_rels = describe_sobject(org, "User", VERSION)["childRelationships"]
    assert ("Account", "CreatedById") in {(r["childSObject"], r["field"]) for r in user_rels}
    contact_rels = {
        (r["childSObject"], r["field"]): r
        for r in describe_sobject(org, "Contact", VERSION)["childRelationships"]
    }
    assert contact_rels[("Case", "ContactId")]["relationshipName"] == "Cases"


def test_basic_info() -> None:
    recent = [{"attributes": {"type": "Account"}, "Id": "001", "Name": "A"}]
    body = basic_info(default_org(), "Contact", VERSION, recent)
    assert body["objectDescribe"]["name"] == "Contact" and body["objectDescribe"]["keyPrefix"] == "003"
    assert body["recentItems"] == recent


def _col(org: OrgConfig, obj: str, path: str) -> ColumnInfo:
    """The column as the record engine hands it over: the leaf field and the object owning it."""
    o = org.objects[obj]
    owner = obj
    parts = path.split(".")
    for rel in parts[:-1]:
        ref = next(f for f in o.fields.values() if f.relationship_name == rel)
        owner = ref.reference_to[0]
        o = org.objects[owner]
    return ColumnInfo(path=path, field=o.fields[parts[-1]], object=owner)


def test_column_metadata_nests_parent_fields() -> None:
    org = default_org()
    cols = [
        _col(org, "Contact", p)
        for p in ("Id", "LastName", "Account.Name", "Account.Owner.Username", "Account.Id", "Email")
    ]
    meta = column_metadata(cols)
    assert [c["columnName"] for c in meta] == ["Id", "LastName", "Account", "Email"]
    for c in meta:
        assert set(c) == {
            "aggregate",
            "apexType",
            "booleanType",
            "columnName",
            "custom",
            "displayName",
            "foreignKeyName",
            "insertable",
            "joinColumns",
            "numberType",
            "textType",
            "updatable",
        }
    id_col, last, account, _ = meta
    assert (id_col["apexType"], id_col["insertable"], id_col["updatable"]) == ("Id", False, False)
    assert (last["apexType"], last["textType"], last["insertable"], last["updatable"]) == (
        "String",
        True,
        True,
        True,
    )
    assert account["apexType"] is None and not account["aggregate"]
    assert [j["columnName"] for j in account["joinColumns"]] == ["Name", "Owner", "Id"]
    owner = account["joinColumns"][1]
    assert [j["columnName"] for j in owner["joinColumns"]] == ["Username"]
    assert owner["joinColumns"][0]["displayName"] == "Account.Owner.Username"


def _flatten(meta: list[dict[str, Any]]) -> list[str]:
    """How the ``sf`` CLI turns columnMetadata back into column names (plugin-data's query command)."""
    out: list[str] = []
    for c in meta:
        if c["joinColumns"]:
            out += [f"{c['columnName']}.{sub}" for sub in _flatten(c["joinColumns"])]
        elif c["aggregate"]:
            out.append(c["displayName"])
        else:
            out.append(c["columnName"])
    return out


def test_column_metadata_round_trips_like_the_sf_cli() -> None:
    org = default_org()
    paths = ["Id", "Account.Name", "Account.Owner.Username", "ReportsTo.Email"]
    assert _flatten(column_metadata([_col(org, "Contact", p) for p in paths])) == paths


def test_column_metadata_aggregates() -> None:
    meta = column_metadata(
        [
            ColumnInfo(path="COUNT(Id)", field=None, object="Account"),
            ColumnInfo(path="total", field=None, object="Account"),
        ]
    )
    assert [(c["columnName"], c["displayName"], c["aggregate"]) for c in meta] == [
        ("expr0", "COUNT(Id)", True),
        ("total", "total", True),
    ]
    assert meta[0]["numberType"] and meta[0]["apexType"] == "Integer"


# ---- over HTTP, through the emulator's REST layer -----------------------------------------------------
def test_describe_over_http_includes_org_file_fields(
    org_config: OrgConfig, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    from sfsync.emulator.metadata.orgfile import load_org_file

    path = tmp_path / "org.yaml"
    path.write_text(
        "objects:\n"
        "  Contact:\n    fields:\n      Tier__c: {type: picklist, values: [Gold, Silver], restricted: true}\n"
        "  Invoice__c:\n    fields:\n      Contact__c: {type: reference, reference_to: Contact}\n",
        encoding="utf-8",
    )
    org_config.objects = load_org_file(path, org_config).objects  # the fixture serves this very object
    client = request.getfixturevalue("emulator").client()  # started after the change: it builds tables
    contact = client.get("/services/data/v59.0/sobjects/Contact/describe").json()
    assert _required(contact) == ["LastName"]
    tier = _fields(contact)["Tier__c"]
    assert tier["restrictedPicklist"] and [p["value"] for p in tier["picklistValues"]] == ["Gold", "Silver"]
    assert ("Invoice__c", "Contact__c", "Invoices__r") in {
        (r["childSObject"], r["field"], r["relationshipName"]) for r in contact["childRelationships"]
    }
    names = [o["name"] for o in client.get("/services/data/v59.0/sobjects").json()["sobjects"]]
    assert "Invoice__c" in names
    created = client.post("/services/data/v59.0/sobjects/Invoice__c/", json={"Name": "INV-1"})
    assert created.status_code == 201 and created.json()["id"].startswith("a00")


def test_columns_over_http_read_like_the_sf_cli(emulator: Any) -> None:
    client = emulator.client()
    account = client.post("/services/data/v59.0/sobjects/Account/", json={"Name": "Acme"}).json()["id"]
    client.post("/services/data/v59.0/sobjects/Contact/", json={"LastName": "Doe", "AccountId": account})
    soql = "SELECT Id, lastname, account.name, Account.Owner.Username FROM Contact"
    body = client.get("/services/data/v59.0/query", params={"q": soql, "columns": "true"}).json()
    assert _flatten(body["columnMetadata"]) == ["Id", "LastName", "Account.Name", "Account.Owner.Username"]
