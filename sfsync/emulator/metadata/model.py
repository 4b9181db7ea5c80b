"""The emulated org's metadata: objects, fields, users, connected apps and fault settings.

These dataclasses are the contract between the emulator's parts: ``schema`` builds the default org,
``orgfile`` loads ``--org`` YAML into them, ``org``/``store``/``validate`` enforce them on records,
``describe`` renders them as Salesforce describe JSON, and the HTTP layer reads users, apps and faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sfsync.emulator.metadata.automation import Automation


@dataclass
class PicklistValue:
    value: str
    label: str | None = None  # None: describe reports a null label (Group.Type does)
    active: bool = True
    default: bool = False


@dataclass
class FieldDef:
    """One field as describe reports it. ``type`` is the describe type (string, int, reference, ...)."""

    name: str
    type: str
    label: str | None = None
    length: int = 0  # string-like types
    precision: int = 0  # double/currency/percent
    scale: int = 0
    digits: int = 0  # int
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    default_value: object | None = None  # applied on create when the field is not given
    external_id: bool = False
    id_lookup: bool = False
    unique: bool = False
    case_sensitive: bool = False
    calculated: bool = False
    auto_number: bool = False
    custom: bool = False
    filterable: bool = True
    name_field: bool = False
    picklist_values: list[PicklistValue] = field(default_factory=list)
    restricted_picklist: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None

    @property
    def required_on_create(self) -> bool:
        """Not nillable and not defaulted on create, among the fields a client may set: Salesforce's
        "Required Fields" page (docs/salesforce-facts.md#field-keys)."""
        return self.createable and not self.nillable and not self.defaulted_on_create


@dataclass
class RecordTypeDef:
    """A record type of one object (``objects.X.record_types`` in an org file); ``id`` has prefix 012."""

    id: str
    developer_name: str
    label: str
    active: bool = True
    default: bool = False  # the running user's default record type for new records
    description: str | None = None


@dataclass
class SObjectDef:
    name: str
    key_prefix: str
    label: str | None = None
    label_plural: str | None = None
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    queryable: bool = True
    fields: dict[str, FieldDef] = field(default_factory=dict)  # keyed by exact API name
    record_types: list[RecordTypeDef] = field(default_factory=list)  # besides Master

    def default_record_type(self) -> RecordTypeDef | None:
        """The record type a new record gets when it names none (None: no record types, Master)."""
        active = [r for r in self.record_types if r.active]
        return next((r for r in active if r.default), active[0] if active else None)

    def field(self, name: str) -> FieldDef | None:
        """Case-insensitive field lookup (API names are case-insensitive)."""
        f = self.fields.get(name)
        if f is not None:
            return f
        low = name.lower()
        for k, v in self.fields.items():
            if k.lower() == low:
                return v
        return None


@dataclass
class UserDef:
    id: str  # 18-char, prefix 005
    username: str
    password: str
    security_token: str = ""  # when set, password logins must append it
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    active: bool = True
    time_zone: str = "Europe/Paris"


@dataclass
class QueueDef:
    """A queue: a Group record with ``Type = 'Queue'`` that can own Leads and Cases (their ``OwnerId``
    references Group and User)."""

    id: str  # 18-char, prefix 00G
    name: str
    developer_name: str
    email: str | None = None


@dataclass
class AppDef:
    """A connected app. ``certificate_pem`` is the X.509 certificate whose key signs JWT bearer assertions."""

    client_id: str
    client_secret: str
    certificate_pem: str | None = None
    run_as: str | None = None  # username used by the client_credentials flow
    rotate_refresh_tokens: bool = False  # each refresh answer carries a new token; the old one dies


@dataclass
class RefreshTokenDef:
    token: str
    username: str
    client_id: str


@dataclass
class FaultSettings:
    """Knobs that make the org misbehave on purpose. Changeable at run time through the admin endpoint."""

    daily_api_quota: int = 15000
    lock_row_rate: float = 0.0  # fraction of records failing with UNABLE_TO_LOCK_ROW
    unavailable_rate: float = 0.0  # fraction of API calls answered 503 SERVER_UNAVAILABLE
    session_seconds: int = 7200  # access token lifetime
    bulk_delay_seconds: float = 0.0  # extra time a Bulk job stays InProgress
    bulk_fail: bool = False  # every Bulk ingest job ends Failed
    login_error_rate: float = 0.0  # fraction of token requests answered unknown_error, "retry your request"
    token_delay_seconds: float = 0.0  # time each token request takes (makes concurrent refreshes overlap)
    # every Bulk ingest job is forgotten (404) once processed, as after a restart with --db or Salesforce's
    # 7-day cleanup: its records stay, the job and its results are gone
    bulk_forget_jobs: bool = False
    seed: int | None = None  # RNG seed for reproducible faults


@dataclass
class OrgConfig:
    org_id: str  # 18-char, prefix 00D
    org_name: str = "sfsync Emulated Org"
    instance_name: str = "EMU1"
    is_sandbox: bool = False
    objects: dict[str, SObjectDef] = field(default_factory=dict)
    users: list[UserDef] = field(default_factory=list)
    queues: list[QueueDef] = field(default_factory=list)
    apps: list[AppDef] = field(default_factory=list)
    refresh_tokens: list[RefreshTokenDef] = field(default_factory=list)
    faults: FaultSettings = field(default_factory=FaultSettings)
    automation: Automation = field(default_factory=lambda: _new_automation())

    def object(self, name: str) -> SObjectDef | None:
        """Case-insensitive object lookup."""
        o = self.objects.get(name)
        if o is not None:
            return o
        low = name.lower()
        for k, v in self.objects.items():
            if k.lower() == low:
                return v
        return None

    def object_by_prefix(self, prefix: str) -> SObjectDef | None:
        for o in self.objects.values():
            if o.key_prefix == prefix:
                return o
        return None

    def user(self, username: str) -> UserDef | None:
        low = username.lower()
        return next((u for u in self.users if u.username.lower() == low), None)

    def queue(self, developer_name: str) -> QueueDef | None:
        low = developer_name.lower()
        return next((q for q in self.queues if q.developer_name.lower() == low), None)

    def app(self, client_id: str) -> AppDef | None:
        return next((a for a in self.apps if a.client_id == client_id), None)


def _new_automation() -> Automation:
    from sfsync.emulator.metadata.automation import Automation  # it builds SObjectDefs: imported late

    return Automation()
