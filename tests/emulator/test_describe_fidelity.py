"""The emulator's describe held against describes recorded from real orgs.

The recordings live in ``tests/emulator/recorded/`` (``OBJECT.SOURCE.json``); each names its source
repository, path and commit in its ``_source`` header, and ``recorded/README.md`` says what each source
is and how the files were trimmed. For every recorded field the emulator also describes, every key
the recording carries among ``FIELD_KEYS`` (and the picklist entries) must be equal, unless
``KNOWN_DIFFERENCES`` names that exact difference with its reason. A recorded field the emulator lacks
must be in ``DELIBERATELY_MISSING`` with its reason; a field the emulator has and no recording shows
must be in ``EMULATOR_ONLY`` with its reason. The three lists are checked for staleness too.

Rule for what belongs to the recording org rather than to Salesforce: custom fields (``__c``, ``__pc``)
are dropped when a recording is trimmed; a picklist value only one recording org has, that the other
recordings of the same field lack, is dropped at trimming and listed in the file's
``dropped_picklist_values``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

RECORDED = Path(__file__).parent / "recorded"
VERSION = "62.0"
OBJECTS = ("Account", "Contact", "Lead", "Case", "Contract", "Group")
#: Field keys compared when the recording carries them.
FIELD_KEYS = (
    "label",
    "type",
    "soapType",
    "length",
    "precision",
    "scale",
    "digits",
    "nillable",
    "createable",
    "updateable",
    "defaultedOnCreate",
    "defaultValue",
    "externalId",
    "idLookup",
    "unique",
    "caseSensitive",
    "calculated",
    "autoNumber",
    "nameField",
    "filterable",
    "referenceTo",
    "relationshipName",
    "polymorphicForeignKey",
    "namePointing",
    "restrictedPicklist",
    "picklistValues",
)
#: Object keys compared when the recording carries them.
OBJECT_KEYS = (
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
    "mergeable",
    "replicateable",
    "undeletable",
    "feedEnabled",
    "mruEnabled",
    "activateable",
    "customSetting",
    "deprecatedAndHidden",
    "hasSubtypes",
    "isSubtype",
    "sobjectDescribeOption",
)

_ABSENT_OBJECT = "references {}, an object the emulator does not have (every reference of the default org \
points at an object the org has)"
_PERSON_ACCOUNT = "Person Accounts field: only orgs with Person Accounts enabled describe it"
#: Fields an Account describes when Person Accounts are on (Account.cumulusci-personaccounts).
PERSON_ACCOUNT_FIELDS = (
    "LastName",
    "FirstName",
    "Salutation",
    "PersonContactId",
    "IsPersonAccount",
    *(
        f"Person{kind}{part}"
        for kind in ("Mailing", "Other")
        for part in (
            "Street",
            "City",
            "State",
            "PostalCode",
            "Country",
            "Latitude",
            "Longitude",
            "GeocodeAccuracy",
            "Address",
        )
    ),
    "PersonMobilePhone",
    "PersonHomePhone",
    "PersonOtherPhone",
    "PersonAssistantPhone",
    "PersonEmail",
    "PersonTitle",
    "PersonDepartment",
    "PersonAssistantName",
    "PersonLeadSource",
    "PersonBirthdate",
    "PersonHasOptedOutOfEmail",
    "PersonHasOptedOutOfFax",
    "PersonDoNotCall",
    "PersonLastCURequestDate",
    "PersonLastCUUpdateDate",
    "PersonEmailBouncedReason",
    "PersonEmailBouncedDate",
    "PersonIndividualId",
    "PersonPronouns",
    "PersonGenderIdentity",
)
_PORTAL = (
    "partner/customer portal field: described only by orgs with portals or channel programs on "
    "(not by the GanttChart or NetCoreForce orgs); not writable through the API"
)

#: Recorded fields the emulator does not describe: (object, field) -> why.
DELIBERATELY_MISSING: dict[tuple[str, str], str] = {
    **{("Account", name): _PERSON_ACCOUNT for name in PERSON_ACCOUNT_FIELDS},
    ("Account", "RecordTypeId"): "record types are modelled separately (only orgs with record types on "
    "the object describe RecordTypeId)",
    ("Account", "IsPartner"): _PORTAL,
    ("Account", "IsCustomerPortal"): _PORTAL,
    ("Account", "ChannelProgramName"): _PORTAL,
    ("Account", "ChannelProgramLevelName"): _PORTAL,
    ("Account", "JigsawCompanyId"): "read-only Data.com company id: a sync cannot write it",
    ("Contact", "JigsawContactId"): "read-only Data.com contact id: a sync cannot write it",
    ("Lead", "JigsawContactId"): "read-only Data.com contact id: a sync cannot write it",
    ("Account", "DandbCompanyId"): _ABSENT_OBJECT.format("DandBCompany"),
    ("Lead", "DandbCompanyId"): _ABSENT_OBJECT.format("DandBCompany"),
    ("Account", "OperatingHoursId"): _ABSENT_OBJECT.format("OperatingHours"),
    ("Case", "AssetId"): _ABSENT_OBJECT.format("Asset"),
    ("Case", "SourceId"): _ABSENT_OBJECT.format("EmailMessage / MessagingSession"),
    ("Contact", "IndividualId"): _ABSENT_OBJECT.format("Individual"),
    ("Lead", "IndividualId"): _ABSENT_OBJECT.format("Individual"),
    ("Lead", "ConvertedOpportunityId"): _ABSENT_OBJECT.format("Opportunity"),
    ("Contract", "Pricebook2Id"): _ABSENT_OBJECT.format("Pricebook2"),
    ("Group", "RelatedId"): _ABSENT_OBJECT.format("UserRole"),
    ("Contact", "ContactSource"): "Einstein Activity Capture's creation source (one value, Auto Create), "
    "only in the 2024-2025 recordings; nothing a warehouse sync sets",
}

_FLS_HIDDEN = (
    "documented standard field (Salesforce Object Reference) that none of the recorded users could see "
    "(field-level security is off for it in those orgs); kept because syncs map it"
)
#: Fields the emulator describes that no recording lists: (object, field) -> why.
EMULATOR_ONLY: dict[tuple[str, str], str] = {
    **{
        (obj, "External_Id__c"): "the custom upsert key every default-org object carries (docs/emulator.md)"
        for obj in ("Account", "Contact", "Lead", "Case", "Contract")
    },
    **{
        (obj, name): _FLS_HIDDEN
        for obj in ("Contact", "Lead")
        for name in ("HasOptedOutOfEmail", "HasOptedOutOfFax", "DoNotCall")
    },
    ("Contract", "Name"): _FLS_HIDDEN + " (Field Reference: Contract Name, string 80)",
}

_OLD_PICKLIST_LENGTH = (
    "org recorded before 2022: its standard picklists describe length 40; the 2023-2024 recordings and "
    "Salesforce's Field Reference give 255, which the emulator follows"
)
_OLD_GEOCODE_LABELS = (
    "recorded before 2024: GeocodeAccuracy entries labelled with their values; the 2024 recording labels "
    "NearAddress 'Near Address' and ExtendedZip 'Extended Zip', which the emulator follows (values agree)"
)
#: Differences the emulator keeps on purpose: (recording file stem, field or "<object>", key) -> why.
KNOWN_DIFFERENCES: dict[tuple[str, str, str], str] = {
    **{
        ("Account.cumulusci", name, "length"): _OLD_PICKLIST_LENGTH
        for name in ("Type", "Industry", "Ownership", "Rating", "AccountSource")
    },
    **{
        ("Case.cumulusci", name, "length"): _OLD_PICKLIST_LENGTH
        for name in ("Type", "Status", "Reason", "Origin", "Priority")
    },
    **{
        (stem, name, "picklistValues"): _OLD_GEOCODE_LABELS
        for stem, names in (
            ("Account.cumulusci", ("BillingGeocodeAccuracy", "ShippingGeocodeAccuracy")),
            ("Account.cumulusci-personaccounts", ("BillingGeocodeAccuracy", "ShippingGeocodeAccuracy")),
            ("Contact.cumulusci", ("OtherGeocodeAccuracy", "MailingGeocodeAccuracy")),
            ("Lead.cumulusci", ("GeocodeAccuracy",)),
            ("Account.ganttchart", ("BillingGeocodeAccuracy", "ShippingGeocodeAccuracy")),
            ("Contact.ganttchart", ("OtherGeocodeAccuracy", "MailingGeocodeAccuracy")),
            ("Contract.ganttchart", ("BillingGeocodeAccuracy",)),
            ("Lead.ganttchart", ("GeocodeAccuracy",)),
        )
        for name in names
    },
    ("Contact.cumulusci", "Salutation", "picklistValues"): "org recorded before 2022, when new orgs "
    "did not ship the Mx. salutation yet (the 2023-2024 recordings have it)",
    ("Account.cumulusci-personaccounts", "Name", "nillable"): "with Person Accounts on, Account.Name is "
    "nillable (a person account is named by FirstName/LastName)",
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


RECORDINGS = sorted(RECORDED.glob("*.json"))


def _stem(path: Path) -> str:
    return path.name.removesuffix(".json")


def _picklist(entries: list[dict[str, Any]], keys: set[str]) -> list[dict[str, Any]]:
    return [{k: e.get(k) for k in sorted(keys)} for e in entries]


def _differences(recorded: dict[str, Any], emulated: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Compared keys whose values differ: key -> (recorded, emulated)."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in FIELD_KEYS:
        if key not in recorded:
            continue
        rec, emu = recorded[key], emulated.get(key)
        if key == "picklistValues":
            keys = set().union(*(set(e) for e in rec)) if rec else {"value"}
            rec, emu = _picklist(rec, keys), _picklist(emu or [], keys)
        if rec != emu:
            out[key] = (rec, emu)
    return out


@pytest.fixture
def described(emulator: Any) -> dict[str, dict[str, Any]]:
    """The emulator's describe of every compared object, fetched over its HTTP API."""
    with emulator.client() as http:
        out = {}
        for obj in OBJECTS:
            r = http.get(f"/services/data/v{VERSION}/sobjects/{obj}/describe")
            assert r.status_code == 200, r.text
            out[obj] = r.json()
        return out


def _fields(describe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in describe["fields"]}


def test_every_recording_names_its_source() -> None:
    assert {p.name.split(".")[0] for p in RECORDINGS} >= set(OBJECTS)
    for path in RECORDINGS:
        source = _load(path)["_source"]
        assert source["repository"].count("/") == 1 and source["path"], path.name
        assert len(source["commit"]) == 40, path.name


@pytest.mark.parametrize("path", RECORDINGS, ids=_stem)
def test_fields_match_the_recording(path: Path, described: dict[str, dict[str, Any]]) -> None:
    rec = _load(path)
    obj = path.name.split(".")[0]
    emulated = _fields(described[obj])
    problems = []
    for field in rec["fields"]:
        name = field["name"]
        if name not in emulated:
            if (obj, name) not in DELIBERATELY_MISSING:
                problems.append(f"{obj}.{name}: recorded, not described by the emulator")
            continue
        for key, (want, got) in _differences(field, emulated[name]).items():
            if (_stem(path), name, key) not in KNOWN_DIFFERENCES:
                problems.append(f"{obj}.{name}.{key}: recorded {want!r}, emulator {got!r}")
    assert not problems, f"{path.name} differs from the emulator:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", RECORDINGS, ids=_stem)
def test_object_keys_match_the_recording(path: Path, described: dict[str, dict[str, Any]]) -> None:
    rec = _load(path)["object"]
    obj = path.name.split(".")[0]
    problems = [
        f"{obj}.{key}: recorded {rec[key]!r}, emulator {described[obj].get(key)!r}"
        for key in OBJECT_KEYS
        if key in rec
        and rec[key] != described[obj].get(key)
        and (_stem(path), "<object>", key) not in KNOWN_DIFFERENCES
    ]
    assert not problems, "\n".join(problems)


def test_known_differences_still_differ(described: dict[str, dict[str, Any]]) -> None:
    """An entry whose difference is gone is stale: remove it."""
    stale = []
    for stem, name, key in KNOWN_DIFFERENCES:
        rec = _load(RECORDED / f"{stem}.json")
        obj = stem.split(".")[0]
        if name == "<object>":
            if rec["object"].get(key) == described[obj].get(key):
                stale.append((stem, name, key))
            continue
        field = next(f for f in rec["fields"] if f["name"] == name)
        if key not in _differences(field, _fields(described[obj])[name]):
            stale.append((stem, name, key))
    assert not stale, f"no longer different, remove from KNOWN_DIFFERENCES: {stale}"


def test_deliberately_missing_fields_are_recorded_and_missing(described: dict[str, dict[str, Any]]) -> None:
    recorded = {(p.name.split(".")[0], f["name"]) for p in RECORDINGS for f in _load(p)["fields"]}
    for obj, name in DELIBERATELY_MISSING:
        assert (obj, name) in recorded, f"{obj}.{name} is in no recording"
        assert name not in _fields(described[obj]), f"{obj}.{name} is described now: drop it from the list"


def test_emulator_fields_are_recorded_or_explained(described: dict[str, dict[str, Any]]) -> None:
    recorded = {(p.name.split(".")[0], f["name"]) for p in RECORDINGS for f in _load(p)["fields"]}
    unexplained = [
        f"{obj}.{name}"
        for obj in OBJECTS
        for name in _fields(described[obj])
        if (obj, name) not in recorded and (obj, name) not in EMULATOR_ONLY
    ]
    assert not unexplained, f"described by the emulator, in no recording: {unexplained}"
    for obj, name in EMULATOR_ONLY:
        assert (obj, name) not in recorded, f"{obj}.{name} is recorded now: drop it from EMULATOR_ONLY"
        assert name in _fields(described[obj]), f"{obj}.{name} is not described: drop it from EMULATOR_ONLY"
