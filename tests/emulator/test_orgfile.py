"""Loading org files: every feature, the documented example, and broken files naming the exact key."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sfsync.emulator.endpoints.describe import describe_sobject
from sfsync.emulator.metadata import ids
from sfsync.emulator.metadata.model import OrgConfig
from sfsync.emulator.metadata.orgfile import OrgFileError, load_org_file
from sfsync.emulator.metadata.schema import DEFAULT_USER_ID, default_org

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator-org-file.md"


def _write(tmp_path: Path, text: str, name: str = "org.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _certificate_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfsync test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


@pytest.fixture(scope="module")
def cert_pem() -> str:
    return _certificate_pem()


def _problems(tmp_path: Path, text: str) -> OrgFileError:
    with pytest.raises(OrgFileError) as info:
        load_org_file(_write(tmp_path, text))
    return info.value


# ---- the documented example ------------------------------------------------------------------------
def test_documented_example_loads(tmp_path: Path, cert_pem: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    example = re.search(r"## A full example\s+```yaml\n(.*?)```", doc, re.S)
    assert example is not None
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "etl.crt").write_text(cert_pem, encoding="ascii")
    org = load_org_file(_write(tmp_path, example.group(1)))
    assert (org.org_name, org.is_sandbox, org.instance_name) == ("Acme Sandbox", True, "EMU2")
    assert org.objects["Invoice__c"].key_prefix == "a00"
    assert org.user("jane@example.com") is not None
    app = org.app("etl-app")
    assert app is not None and app.certificate_pem == cert_pem
    assert org.faults.seed == 42


def test_empty_file_is_the_default_org(tmp_path: Path) -> None:
    org = load_org_file(_write(tmp_path, ""))
    assert org == default_org()


def test_base_is_not_modified(tmp_path: Path) -> None:
    base = default_org()
    org = load_org_file(
        _write(tmp_path, "objects:\n  Account:\n    fields:\n      X__c: {type: boolean}\n"), base
    )
    assert "X__c" in org.objects["Account"].fields
    assert "X__c" not in base.objects["Account"].fields


# ---- each feature ----------------------------------------------------------------------------------
def test_org_settings(tmp_path: Path) -> None:
    org = load_org_file(_write(tmp_path, "org: {name: Acme, sandbox: true, instance_name: CS42}\n"))
    assert (org.org_name, org.is_sandbox, org.instance_name) == ("Acme", True, "CS42")


def test_custom_fields_on_standard_objects(tmp_path: Path) -> None:
    org = load_org_file(
        _write(
            tmp_path,
            """
objects:
  account:                      # names are case-insensitive
    fields:
      Region__c: {type: string, length: 40, required: true, label: Sales Region}
      Score__c: {type: double, precision: 5, scale: 2}
      Revenue__c: {type: currency}
      Seats__c: {type: int, digits: 6, default: 1}
      Strategic__c: {type: boolean, default: true}
      Code__c: {type: string, length: 20, external_id: true, unique: true, case_sensitive: true}
      Notes__c: {type: textarea}
      Renewal__c: {type: date}
""",
        )
    )
    f = org.objects["Account"].fields
    region = f["Region__c"]
    assert (region.type, region.length, region.label, region.custom) == ("string", 40, "Sales Region", True)
    assert region.required_on_create
    assert (f["Score__c"].precision, f["Score__c"].scale) == (5, 2)
    assert (f["Revenue__c"].type, f["Revenue__c"].precision, f["Revenue__c"].scale) == ("currency", 18, 2)
    assert (f["Seats__c"].digits, f["Seats__c"].default_value, f["Seats__c"].defaulted_on_create) == (
        6,
        1,
        True,
    )
    assert f["Strategic__c"].default_value is True and not f["Strategic__c"].nillable
    code = f["Code__c"]
    assert code.external_id and code.id_lookup and code.unique and code.case_sensitive
    assert f["Notes__c"].length == 255 and f["Renewal__c"].type == "date"
    assert _required_fields(org, "Account") == ["Name", "Region__c"]


def _required_fields(org: OrgConfig, obj: str) -> list[str]:
    d = describe_sobject(org, obj, "59.0")
    return sorted(
        x["name"] for x in d["fields"] if x["createable"] and not x["nillable"] and not x["defaultedOnCreate"]
    )


def test_custom_picklist_field(tmp_path: Path) -> None:
    org = load_org_file(
        _write(
            tmp_path,
            """
objects:
  Contact:
    fields:
      Tier__c: {type: picklist, values: [Gold, Silver, 3], restricted: true, default: Silver}
      Tags__c: {type: multipicklist, values: [a, b]}
""",
        )
    )
    tier = org.objects["Contact"].fields["Tier__c"]
    assert [p.value for p in tier.picklist_values] == ["Gold", "Silver", "3"]
    assert [p.value for p in tier.picklist_values if p.default] == ["Silver"]
    assert tier.restricted_picklist and tier.default_value == "Silver" and tier.defaulted_on_create
    assert org.objects["Contact"].fields["Tags__c"].length == 4099


def test_custom_objects(tmp_path: Path) -> None:
    org = load_org_file(
        _write(
            tmp_path,
            """
objects:
  Invoice__c:
    label: Invoice
    label_plural: Invoices
    fields:
      Account__c: {type: reference, reference_to: Account}
      Line__c: {type: reference, reference_to: Invoice_Line__c, relationship_name: Main_Line__r}
  Invoice_Line__c: {}
  Special__c: {key_prefix: a0Z}
""",
        )
    )
    invoice, line = org.objects["Invoice__c"], org.objects["Invoice_Line__c"]
    assert (invoice.key_prefix, line.key_prefix, org.objects["Special__c"].key_prefix) == (
        "a00",
        "a01",
        "a0Z",
    )
    assert invoice.custom and (invoice.label, invoice.label_plural) == ("Invoice", "Invoices")
    assert {
        "Id",
        "Name",
        "OwnerId",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    } <= set(invoice.fields)
    assert invoice.fields["Name"].name_field and invoice.fields["Name"].length == 80
    account = invoice.fields["Account__c"]
    assert (account.reference_to, account.relationship_name) == (["Account"], "Account__r")
    assert invoice.fields["Line__c"].reference_to == ["Invoice_Line__c"]
    assert invoice.fields["Line__c"].relationship_name == "Main_Line__r"
    rels = describe_sobject(org, "Account", "59.0")["childRelationships"]
    assert {
        "childSObject": "Invoice__c",
        "field": "Account__c",
        "relationshipName": "Invoices__r",
    }.items() <= {k: v for r in rels if r["childSObject"] == "Invoice__c" for k, v in r.items()}.items()


def test_picklist_restriction_and_replacement(tmp_path: Path) -> None:
    org = load_org_file(
        _write(
            tmp_path,
            """
objects:
  Account:
    picklists:
      Industry: {only: [Technology, Finance], restricted: true}
      Type: {values: [Customer, Prospect]}
  Lead:
    picklists:
      Status: {values: [New, Working], default: New}
  Case:
    picklists:
      Priority: {only: [High, Medium]}
""",
        )
    )
    acct = org.objects["Account"].fields
    assert [p.value for p in acct["Industry"].picklist_values] == ["Technology", "Finance"]
    assert acct["Industry"].restricted_picklist
    assert [p.value for p in acct["Type"].picklist_values] == ["Customer", "Prospect"]
    assert not acct["Type"].restricted_picklist
    status = org.objects["Lead"].fields["Status"]
    assert status.default_value == "New" and status.defaulted_on_create
    assert [p.value for p in status.picklist_values if p.default] == ["New"]
    assert org.objects["Case"].fields["Priority"].default_value == "Medium"  # kept: still a value


def test_users(tmp_path: Path) -> None:
    org = load_org_file(
        _write(
            tmp_path,
            """
users:
  - username: jane@example.com
    password: jane-pw
    security_token: TOKEN1
    email: jane@corp.example
    first_name: Jane
    last_name: Doe
    active: false
    time_zone: America/New_York
  - {username: bob@example.com, password: bob-pw}
  - {username: ADMIN@example.com, password: changed}
""",
        )
    )
    jane, bob, admin = (
        org.user("jane@example.com"),
        org.user("bob@example.com"),
        org.user("admin@example.com"),
    )
    assert jane is not None and bob is not None and admin is not None
    assert (
        jane.password,
        jane.security_token,
        jane.email,
        jane.first_name,
        jane.last_name,
        jane.active,
        jane.time_zone,
    ) == ("jane-pw", "TOKEN1", "jane@corp.example", "Jane", "Doe", False, "America/New_York")
    assert (bob.email, bob.last_name, bob.active, bob.security_token) == ("bob@example.com", "bob", True, "")
    assert admin.id == DEFAULT_USER_ID and admin.password == "changed"
    ids_ = [u.id for u in org.users]
    assert len(set(ids_)) == 3 and all(i.startswith("005") and ids.is_well_formed(i) for i in ids_)


def test_user_time_zone_outside_the_picklist_is_added(tmp_path: Path) -> None:
    org = load_org_file(
        _write(tmp_path, "users:\n  - {username: k@example.com, password: x, time_zone: Asia/Kathmandu}\n")
    )
    user = org.user("k@example.com")
    assert user is not None and user.time_zone == "Asia/Kathmandu"
    zones = org.objects["User"].fields["TimeZoneSidKey"].picklist_values
    assert "Asia/Kathmandu" in [p.value for p in zones]


def test_apps_with_certificate_file_and_inline(tmp_path: Path, cert_pem: str) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "app.crt").write_text(cert_pem, encoding="ascii")
    inline = "\n".join("      " + line for line in cert_pem.splitlines())
    org = load_org_file(
        _write(
            tmp_path,
            f"""
apps:
  - {{client_id: file-app, client_secret: s1, certificate: keys/app.crt, run_as: admin@example.com}}
  - client_id: inline-app
    client_secret: s2
    certificate: |
{inline}
  - {{client_id: sfsync-demo-client, client_secret: rotated}}
""",
        )
    )
    file_app, inline_app = org.app("file-app"), org.app("inline-app")
    assert (
        file_app is not None
        and file_app.certificate_pem == cert_pem
        and file_app.run_as == "admin@example.com"
    )
    assert inline_app is not None and inline_app.certificate_pem is not None
    assert inline_app.certificate_pem.strip() == cert_pem.strip() and inline_app.run_as is None
    demo = org.app("sfsync-demo-client")
    assert demo is not None and demo.client_secret == "rotated"
    assert len([a for a in org.apps if a.client_id == "sfsync-demo-client"]) == 1


def test_refresh_tokens(tmp_path: Path) -> None:
    org = load_org_file(
        _write(
            tmp_path,
            """
refresh_tokens:
  - {token: rt-1, username: admin@example.com, client_id: sfsync-demo-client}
""",
        )
    )
    [rt] = org.refresh_tokens
    assert (rt.token, rt.username, rt.client_id) == ("rt-1", "admin@example.com", "sfsync-demo-client")


def test_every_fault_setting(tmp_path: Path) -> None:
    org = load_org_file(
        _write(
            tmp_path,
            """
faults:
  daily_api_quota: 50
  lock_row_rate: 0.25
  unavailable_rate: 1
  session_seconds: 30
  bulk_delay_seconds: 2
  bulk_fail: true
  seed: 7
""",
        )
    )
    f = org.faults
    assert (
        f.daily_api_quota,
        f.lock_row_rate,
        f.unavailable_rate,
        f.session_seconds,
        f.bulk_delay_seconds,
        f.bulk_fail,
        f.seed,
    ) == (50, 0.25, 1.0, 30, 2.0, True, 7)
    assert isinstance(f.unavailable_rate, float) and isinstance(f.bulk_delay_seconds, float)


# ---- broken files: each names the exact key ----------------------------------------------------------
BROKEN = [
    (
        "objects:\n  Account:\n    fields:\n      Tier__c: {type: text}\n",
        "objects.Account.fields.Tier__c.type",
        "unknown field type 'text'",
    ),
    (
        "objects:\n  Account:\n    fields:\n      Code__c: {type: string}\n",
        "objects.Account.fields.Code__c.length",
        "needs a length",
    ),
    (
        "objects:\n  Account:\n    fields:\n      Tier__c: {type: picklist}\n",
        "objects.Account.fields.Tier__c.values",
        "missing",
    ),
    (
        "objects:\n  Account:\n    fields:\n      Parent__c: {type: reference, reference_to: Opportunity}\n",
        "objects.Account.fields.Parent__c.reference_to",
        "no object Opportunity",
    ),
    (
        "objects:\n  Account:\n    fields:\n      Tier: {type: string, length: 5}\n",
        "objects.Account.fields.Tier",
        "ends with __c",
    ),
    (
        "objects:\n  Account:\n    fields:\n      Industry: {type: picklist, values: [a]}\n",
        "objects.Account.fields.Industry",
        "objects.Account.picklists.Industry",
    ),
    (
        "objects:\n  Account:\n    fields:\n      N__c: {type: double, precision: 4, scale: 6}\n",
        "objects.Account.fields.N__c.scale",
        "exceeds precision",
    ),
    (
        "objects:\n  Account:\n    fields:\n      N__c: {type: int, length: 6}\n",
        "objects.Account.fields.N__c.length",
        "has no length",
    ),
    (
        "objects:\n  Account:\n    fields:\n      P__c: {type: picklist, values: [a], default: b}\n",
        "objects.Account.fields.P__c.default",
        "not one of the values",
    ),
    (
        "objects:\n  Account:\n    fields:\n      P__c: {type: picklist, values: [Yes, Maybe]}\n",
        "objects.Account.fields.P__c.values[0]",
        "quote it",
    ),
    (
        "objects:\n  Account:\n    fields:\n      S__c: {type: string, length: 10, colour: red}\n",
        "objects.Account.fields.S__c.colour",
        "unknown key",
    ),
    ("objects:\n  Opportunity:\n    fields: {}\n", "objects.Opportunity", "no standard object Opportunity"),
    ("objects:\n  Account:\n    label: Company\n", "objects.Account.label", "standard object"),
    (
        "objects:\n  Foo__c: {key_prefix: '001'}\n",
        "objects.Foo__c.key_prefix",
        "already the prefix of Account",
    ),
    (
        "objects:\n  Account:\n    picklists:\n      Industry: {only: [Mining]}\n",
        "objects.Account.picklists.Industry.only",
        "Mining not among the values",
    ),
    (
        "objects:\n  Account:\n    picklists:\n      Name: {values: [a]}\n",
        "objects.Account.picklists.Name",
        "not a picklist",
    ),
    (
        "objects:\n  Lead:\n    picklists:\n      Status: {values: [A, B]}\n",
        "objects.Lead.picklists.Status.default",
        "give a default",
    ),
    ("users:\n  - {username: jane, password: x}\n", "users[0].username", "look like emails"),
    ("users:\n  - {username: jane@example.com}\n", "users[0].password", "missing"),
    (
        "users:\n  - {username: j@example.com, password: x, time_zone: Mars/Base}\n",
        "users[0].time_zone",
        "not a time zone",
    ),
    ("users:\n  - {username: j@example.com, password: x, email: nope}\n", "users[0].email", "not an email"),
    ("apps:\n  - {client_id: a, client_secret: b, run_as: ghost@example.com}\n", "apps[0].run_as", "no user"),
    (
        "apps:\n  - {client_id: a, client_secret: b, certificate: missing.pem}\n",
        "apps[0].certificate",
        "cannot read",
    ),
    (
        "apps:\n  - {client_id: a, client_secret: b, certificate: '-----BEGIN CERTIFICATE-----\\nxx'}\n",
        "apps[0].certificate",
        "not a PEM X.509 certificate",
    ),
    (
        "refresh_tokens:\n  - {token: t, username: admin@example.com, client_id: nope}\n",
        "refresh_tokens[0].client_id",
        "no connected app",
    ),
    ("faults:\n  lock_row_rate: 1.5\n", "faults.lock_row_rate", "out of range"),
    ("faults:\n  bulk_fail: sometimes\n", "faults.bulk_fail", "true or false"),
    ("faults:\n  session_seconds: 0\n", "faults.session_seconds", "out of range"),
    ("faults:\n  quota: 5\n", "faults.quota", "daily_api_quota"),
    ("org: {sandbox: 1}\n", "org.sandbox", "true or false"),
    ("org: {instance_name: 'not valid!'}\n", "org.instance_name", "1 to 5"),
    ("orgs: {}\n", "orgs", "unknown key"),
]


@pytest.mark.parametrize(("text", "key", "message"), BROKEN, ids=[b[1] for b in BROKEN])
def test_broken_file_names_the_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    err = _problems(tmp_path, text)
    assert err.keys == [key], str(err)
    assert message in str(err)
    assert str(tmp_path / "org.yaml") in str(err)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    err = _problems(
        tmp_path,
        """
org: {name: ""}
objects:
  Account:
    fields:
      A__c: {type: nope}
users:
  - {username: x, password: y}
faults: {seed: abc}
""",
    )
    assert err.keys == ["org.name", "objects.Account.fields.A__c.type", "users[0].username", "faults.seed"]
    assert "has 4 problems" in str(err)
    assert isinstance(err, ValueError)


def test_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    err = _problems(
        tmp_path,
        """
users:
  - {username: jane@example.com, password: [hunter2-secret]}
apps:
  - {client_id: a, client_secret: {s: sup3r-secret}}
""",
    )
    assert err.keys == ["users[0].password", "apps[0].client_secret"]
    assert "hunter2" not in str(err) and "sup3r" not in str(err)


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    err = _problems(tmp_path, "org:\n  name: [unclosed\nusers: x\n")
    assert "not valid YAML at line" in str(err)


def test_missing_file() -> None:
    with pytest.raises(OrgFileError, match="cannot read the file"):
        load_org_file("/nonexistent/org.yaml")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    err = _problems(tmp_path, "- a\n- b\n")
    assert "must be a mapping" in str(err)
