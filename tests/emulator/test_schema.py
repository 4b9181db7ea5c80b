"""The default org's metadata: objects, key prefixes, required fields, defaults and seeded principals."""

from __future__ import annotations

import pytest

from sfsync.emulator.metadata import ids
from sfsync.emulator.metadata.schema import (
    DEFAULT_ORG_ID,
    DEFAULT_USER_ID,
    custom_object,
    default_org,
    next_custom_prefix,
)

BUSINESS_OBJECTS = ("Account", "Contact", "Lead", "Case", "Contract")


def test_objects_and_key_prefixes() -> None:
    org = default_org()
    prefixes = {name: o.key_prefix for name, o in org.objects.items()}
    assert prefixes == {
        "Account": "001",
        "Contact": "003",
        "Lead": "00Q",
        "Case": "500",
        "Contract": "800",
        "Group": "00G",
        "User": "005",
        "Organization": "00D",
        "RecordType": "012",
        # read-only objects the org's automation metadata is queried through
        "AssignmentRule": "01Q",
        "DuplicateRule": "0Bm",
    }


def test_each_call_returns_an_independent_org() -> None:
    a, b = default_org(), default_org()
    a.objects["Account"].fields["Name"].length = 1
    a.users.clear()
    assert b.objects["Account"].fields["Name"].length == 255
    assert b.users


@pytest.mark.parametrize(
    ("obj", "required"),
    [
        ("Account", ["Name"]),
        ("Contact", ["LastName"]),
        ("Lead", ["LastName", "Company"]),
        ("Case", []),
        ("Contract", ["AccountId"]),
    ],
)
def test_required_on_create(obj: str, required: list[str]) -> None:
    fields = default_org().objects[obj].fields.values()
    assert sorted(f.name for f in fields if f.required_on_create) == sorted(required)


@pytest.mark.parametrize(
    ("obj", "field", "value"),
    [
        ("Lead", "Status", "Open - Not Contacted"),
        ("Case", "Status", "New"),
        ("Case", "Priority", "Medium"),
    ],
)
def test_defaulted_picklists(obj: str, field: str, value: str) -> None:
    f = default_org().objects[obj].fields[field]
    assert f.defaulted_on_create and f.default_value == value
    assert [p.value for p in f.picklist_values if p.default] == [value]


def test_contract_status_defaults_without_a_default_entry() -> None:
    """Recorded Contract describes flag no Status entry as the default; the emulator still fills Draft."""
    f = default_org().objects["Contract"].fields["Status"]
    assert f.defaulted_on_create and f.default_value == "Draft" and not f.nillable
    assert not [p.value for p in f.picklist_values if p.default]


def test_case_origin_is_not_defaulted() -> None:
    f = default_org().objects["Case"].fields["Origin"]
    assert not f.defaulted_on_create and f.default_value is None
    assert [p.value for p in f.picklist_values] == ["Phone", "Email", "Web"]


@pytest.mark.parametrize("obj", BUSINESS_OBJECTS)
def test_external_id_field(obj: str) -> None:
    f = default_org().objects[obj].fields["External_Id__c"]
    assert (f.type, f.length) == ("string", 255)
    assert f.external_id and f.unique and f.id_lookup and f.custom and f.nillable
    assert not f.case_sensitive and f.createable and f.updateable


@pytest.mark.parametrize("obj", [*BUSINESS_OBJECTS, "User", "Organization"])
def test_system_fields_are_read_only(obj: str) -> None:
    o = default_org().objects[obj]
    for name in (
        "Id",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    ):
        f = o.fields[name]
        assert not f.createable and not f.updateable, name
    assert o.fields["Id"].type == "id" and o.fields["Id"].id_lookup
    assert o.fields["CreatedById"].reference_to == ["User"]
    assert o.fields["CreatedById"].relationship_name == "CreatedBy"


def test_references() -> None:
    org = default_org()
    contact = org.objects["Contact"].fields
    assert (contact["AccountId"].reference_to, contact["AccountId"].relationship_name) == (
        ["Account"],
        "Account",
    )
    assert (contact["ReportsToId"].reference_to, contact["ReportsToId"].relationship_name) == (
        ["Contact"],
        "ReportsTo",
    )
    owner = org.objects["Account"].fields["OwnerId"]
    assert owner.reference_to == ["User"] and owner.relationship_name == "Owner"
    assert owner.defaulted_on_create and not owner.required_on_create
    assert org.objects["Case"].fields["ParentId"].reference_to == ["Case"]


@pytest.mark.parametrize(("obj", "field"), [("Case", "CaseNumber"), ("Contract", "ContractNumber")])
def test_autonumbers(obj: str, field: str) -> None:
    f = default_org().objects[obj].fields[field]
    assert f.auto_number and f.id_lookup and f.name_field
    assert not f.createable and not f.updateable


def test_name_fields_and_compounds() -> None:
    org = default_org()
    assert org.objects["Account"].fields["Name"].name_field
    contact_name = org.objects["Contact"].fields["Name"]
    assert contact_name.name_field and not contact_name.createable
    billing = org.objects["Account"].fields["BillingAddress"]
    assert billing.type == "address" and not billing.createable and not billing.updateable
    lat = org.objects["Account"].fields["BillingLatitude"]
    assert (lat.type, lat.precision, lat.scale) == ("double", 18, 15)
    assert org.objects["Contact"].fields["MailingAddress"].type == "address"
    converted = org.objects["Lead"].fields["IsConverted"]
    assert converted.createable and not converted.updateable  # as recorded describes show


def test_field_sizes() -> None:
    acct = default_org().objects["Account"].fields
    assert (acct["AnnualRevenue"].type, acct["AnnualRevenue"].precision, acct["AnnualRevenue"].scale) == (
        "currency",
        18,
        0,
    )
    assert (acct["NumberOfEmployees"].type, acct["NumberOfEmployees"].digits) == ("int", 8)
    assert acct["Description"].length == 32000 and not acct["Description"].filterable
    assert acct["BillingStreet"].type == "textarea" and acct["BillingCity"].length == 40


def test_id_lookups() -> None:
    org = default_org()
    assert org.objects["Contact"].fields["Email"].id_lookup
    assert org.objects["Lead"].fields["Email"].id_lookup
    assert org.objects["User"].fields["Username"].id_lookup


def test_seeded_principals() -> None:
    org = default_org()
    assert org.org_id == DEFAULT_ORG_ID and org.org_id.startswith("00D") and ids.is_well_formed(org.org_id)
    assert len(org.org_id) == 18
    admin = org.user("admin@example.com")
    assert admin is not None and admin.id == DEFAULT_USER_ID and ids.is_well_formed(admin.id)
    assert (admin.password, admin.security_token, admin.email) == ("sfsync-demo", "", "admin@example.com")
    app = org.app("sfsync-demo-client")
    assert app is not None and app.client_secret == "sfsync-demo-secret"
    assert app.certificate_pem is None and app.run_as == "admin@example.com"


def test_custom_objects_and_prefixes() -> None:
    org = default_org()
    assert next_custom_prefix(org) == "a00"
    org.objects["Foo__c"] = custom_object("Foo__c", "a00")
    assert next_custom_prefix(org) == "a01"
    foo = org.objects["Foo__c"]
    name = foo.fields["Name"]
    assert foo.custom and name.name_field and name.id_lookup and (name.type, name.length) == ("string", 80)
    assert not name.required_on_create and name.defaulted_on_create  # a real org names it after its Id
    assert not foo.fields["Id"].createable


def test_every_reference_points_at_an_object_of_the_org() -> None:
    org = default_org()
    for obj in org.objects.values():
        for f in obj.fields.values():
            if f.type == "reference":
                assert f.reference_to and f.relationship_name, f"{obj.name}.{f.name}"
                assert all(org.object(t) is not None for t in f.reference_to), f"{obj.name}.{f.name}"


def test_field_invariants() -> None:
    for obj in default_org().objects.values():
        assert next(iter(obj.fields)) == "Id"
        assert sum(f.name_field for f in obj.fields.values()) == 1, obj.name
        for f in obj.fields.values():
            where = f"{obj.name}.{f.name}"
            assert f.label, where
            if f.type in ("string", "textarea", "email", "phone", "url", "picklist"):
                assert f.length > 0, where
            if f.type == "picklist":
                assert f.picklist_values, where
            if f.default_value is not None and f.type == "picklist":
                assert f.default_value in [p.value for p in f.picklist_values], where
            if f.auto_number or f.calculated:
                assert not f.createable and not f.updateable, where
