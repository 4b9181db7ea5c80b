"""The standard objects of the default org, as a real Enterprise/Developer org describes them.

Each object is a table of ``fld(name, type, size, flags, ...)`` rows (see ``fieldkit`` for the flags),
after the system fields every object shares. Picklists carry the values (and labels) a new org ships
with. Field sets, lengths, flags and picklists follow describes recorded from real orgs, kept in
``tests/emulator/recorded/`` (sources in its README) and checked by ``test_describe_fidelity``; where
recordings of different ages disagree (standard picklists describe length 40 in orgs recorded before
2022, 255 since), the newest recordings and Salesforce's Field Reference win.
"""

from __future__ import annotations

from sfsync.emulator.metadata.fieldkit import (
    address_fields,
    custom_id_field,
    fields_by_name,
    fld,
    system_fields,
)
from sfsync.emulator.metadata.model import FieldDef, SObjectDef
from sfsync.emulator.metadata.picklists import (
    ACCOUNT_TYPE,
    CASE_ORIGIN,
    CASE_PRIORITY,
    CASE_REASON,
    CASE_STATUS,
    CASE_TYPE,
    CLEAN_STATUS,
    CONTRACT_NOTICE,
    CONTRACT_STATUS,
    CONTRACT_STATUS_CODE,
    EMAIL_ENCODINGS,
    GEOCODE_ACCURACY,
    GROUP_TYPES,
    INDUSTRY,
    LANGUAGES,
    LEAD_SOURCE,
    LEAD_STATUS,
    LOCALES,
    ORG_TYPES,
    OWNERSHIP,
    RATING,
    SALUTATION,
    TIME_ZONES,
    USER_TYPES,
)


def _obj(
    name: str,
    prefix: str,
    plural: str,
    fields: list[FieldDef],
    *,
    label: str | None = None,
    createable: bool = True,
    updateable: bool = True,
    deletable: bool = True,
) -> SObjectDef:
    return SObjectDef(
        name=name,
        key_prefix=prefix,
        label=label or name,
        label_plural=plural,
        createable=createable,
        updateable=updateable,
        deletable=deletable,
        fields=fields_by_name(fields),
    )


def _owner(*, queues: bool = False) -> FieldDef:
    """OwnerId: the org sets it to the running user when a create leaves it out. Queues (Group records
    of Type Queue) can own Leads and Cases, whose OwnerId references ``[Group, User]`` (polymorphic,
    as recorded); Accounts, Contacts and Contracts are owned by users only."""
    ref = ("Group", "User") if queues else "User"
    return fld("OwnerId", "reference", 18, "req def", ref=ref, rel="Owner", label="Owner ID")


def _data_com(key_label: str = "Data.com Key") -> list[FieldDef]:
    """The Data.com fields real orgs describe on Accounts, Contacts and Leads (writable, so a sync may map
    them): the Data.com record key and the clean status."""
    return [
        fld("Jigsaw", "string", 20, label=key_label),
        fld("CleanStatus", "picklist", 40, "restrict", values=CLEAN_STATUS, label="Clean Status"),
    ]


def _unlabelled(f: FieldDef) -> FieldDef:
    """Picklist entries without labels: Group.Type's entries describe ``label: null``."""
    for p in f.picklist_values:
        p.label = None
    return f


def _no_default_entry(f: FieldDef) -> FieldDef:
    """Keep ``f``'s create default but flag no picklist entry as the default (Contract.Status: recorded
    describes flag none, yet the field is not nillable; the emulator fills ``Draft`` on create)."""
    for p in f.picklist_values:
        p.default = False
    return f


def _activity_dates() -> list[FieldDef]:
    return [
        fld("LastViewedDate", "datetime", 0, "ro"),
        fld("LastReferencedDate", "datetime", 0, "ro"),
    ]


def _person_name(*, salutation: bool = True) -> list[FieldDef]:
    """The parts of a person name and the read-only compound ``Name`` they make up (Users have no
    salutation)."""
    return [
        fld("LastName", "string", 80, "req"),
        fld("FirstName", "string", 40),
        *([fld("Salutation", "picklist", 40, values=SALUTATION)] if salutation else []),
        fld("Name", "string", 121, "req ro name", label="Full Name"),
    ]


def account() -> SObjectDef:
    return _obj(
        "Account",
        "001",
        "Accounts",
        [
            *system_fields("Account ID"),
            fld(
                "MasterRecordId",
                "reference",
                18,
                "ro",
                ref="Account",
                rel="MasterRecord",
                label="Master Record ID",
            ),
            fld("Name", "string", 255, "req name", label="Account Name"),
            fld("Type", "picklist", 255, values=ACCOUNT_TYPE, label="Account Type"),
            fld("ParentId", "reference", 18, ref="Account", rel="Parent", label="Parent Account ID"),
            *address_fields("Billing", "Billing", GEOCODE_ACCURACY),
            *address_fields("Shipping", "Shipping", GEOCODE_ACCURACY),
            fld("Phone", "phone", 40, label="Account Phone"),
            fld("Fax", "phone", 40, label="Account Fax"),
            fld("AccountNumber", "string", 40, label="Account Number"),
            fld("Website", "url", 255),
            fld("PhotoUrl", "url", 255, "ro", label="Photo URL"),
            fld("Sic", "string", 20, label="SIC Code"),
            fld("Industry", "picklist", 255, values=INDUSTRY),
            fld("AnnualRevenue", "currency", (18, 0), label="Annual Revenue"),
            fld("NumberOfEmployees", "int", 8, label="Employees"),
            fld("Ownership", "picklist", 255, values=OWNERSHIP),
            fld("TickerSymbol", "string", 20, label="Ticker Symbol"),
            fld("Description", "textarea", 32000, label="Account Description"),
            fld("Rating", "picklist", 255, values=RATING, label="Account Rating"),
            fld("Site", "string", 80, label="Account Site"),
            _owner(),
            fld("LastActivityDate", "date", 0, "ro", label="Last Activity"),
            *_activity_dates(),
            *_data_com(),
            fld("AccountSource", "picklist", 255, values=LEAD_SOURCE, label="Account Source"),
            fld("DunsNumber", "string", 9, label="D-U-N-S Number"),
            fld("Tradestyle", "string", 255),
            fld("NaicsCode", "string", 8, label="NAICS Code"),
            fld("NaicsDesc", "string", 120, label="NAICS Description"),
            fld("YearStarted", "string", 4, label="Year Started"),
            fld("SicDesc", "string", 80, label="SIC Description"),
            custom_id_field(),
        ],
    )


def contact() -> SObjectDef:
    return _obj(
        "Contact",
        "003",
        "Contacts",
        [
            *system_fields("Contact ID"),
            fld(
                "MasterRecordId",
                "reference",
                18,
                "ro",
                ref="Contact",
                rel="MasterRecord",
                label="Master Record ID",
            ),
            fld("AccountId", "reference", 18, ref="Account", rel="Account", label="Account ID"),
            *_person_name(),
            *address_fields("Other", "Other", GEOCODE_ACCURACY),
            *address_fields("Mailing", "Mailing", GEOCODE_ACCURACY),
            fld("Phone", "phone", 40, label="Business Phone"),
            fld("Fax", "phone", 40, label="Business Fax"),
            fld("MobilePhone", "phone", 40, label="Mobile Phone"),
            fld("HomePhone", "phone", 40, label="Home Phone"),
            fld("OtherPhone", "phone", 40, label="Other Phone"),
            fld("AssistantPhone", "phone", 40, label="Asst. Phone"),
            fld("ReportsToId", "reference", 18, ref="Contact", rel="ReportsTo", label="Reports To ID"),
            fld("Email", "email", 80, "idl"),
            fld("Title", "string", 128),
            fld("Department", "string", 80),
            fld("AssistantName", "string", 40, label="Assistant's Name"),
            fld("LeadSource", "picklist", 255, values=LEAD_SOURCE, label="Lead Source"),
            fld("Birthdate", "date", 0),
            fld("Description", "textarea", 32000, label="Contact Description"),
            _owner(),
            fld("HasOptedOutOfEmail", "boolean", 0, label="Email Opt Out"),
            fld("HasOptedOutOfFax", "boolean", 0, label="Fax Opt Out"),
            fld("DoNotCall", "boolean", 0, label="Do Not Call"),
            fld("LastActivityDate", "date", 0, "ro", label="Last Activity"),
            fld("LastCURequestDate", "datetime", 0, "ro", label="Last Stay-in-Touch Request Date"),
            fld("LastCUUpdateDate", "datetime", 0, "ro", label="Last Stay-in-Touch Save Date"),
            *_activity_dates(),
            fld("EmailBouncedReason", "string", 255, label="Email Bounced Reason"),
            fld("EmailBouncedDate", "datetime", 0, label="Email Bounced Date"),
            fld("IsEmailBounced", "boolean", 0, "ro", label="Is Email Bounced"),
            fld("PhotoUrl", "url", 255, "ro", label="Photo URL"),
            *_data_com(),
            fld("IsPriorityRecord", "boolean", 0, "ro nofilter", label="Important"),
            custom_id_field(),
        ],
    )


def lead() -> SObjectDef:
    return _obj(
        "Lead",
        "00Q",
        "Leads",
        [
            *system_fields("Lead ID"),
            fld(
                "MasterRecordId",
                "reference",
                18,
                "ro",
                ref="Lead",
                rel="MasterRecord",
                label="Master Record ID",
            ),
            *_person_name(),
            fld("Title", "string", 128),
            fld("Company", "string", 255, "req"),
            *address_fields("", "", GEOCODE_ACCURACY),
            fld("Phone", "phone", 40),
            fld("MobilePhone", "phone", 40, label="Mobile Phone"),
            fld("Fax", "phone", 40),
            fld("Email", "email", 80, "idl"),
            fld("Website", "url", 255),
            fld("PhotoUrl", "url", 255, "ro", label="Photo URL"),
            fld("Description", "textarea", 32000),
            fld("LeadSource", "picklist", 255, values=LEAD_SOURCE, label="Lead Source"),
            fld("Status", "picklist", 255, "req", values=LEAD_STATUS, default="Open - Not Contacted"),
            fld("Industry", "picklist", 255, values=INDUSTRY),
            fld("Rating", "picklist", 255, values=RATING),
            fld("AnnualRevenue", "currency", (18, 0), label="Annual Revenue"),
            fld("NumberOfEmployees", "int", 8, label="Employees"),
            _owner(queues=True),
            fld("HasOptedOutOfEmail", "boolean", 0, label="Email Opt Out"),
            fld("IsConverted", "boolean", 0, "noupdate", label="Converted"),
            fld("ConvertedDate", "date", 0, "ro", label="Converted Date"),
            fld(
                "ConvertedAccountId",
                "reference",
                18,
                "ro",
                ref="Account",
                rel="ConvertedAccount",
                label="Converted Account ID",
            ),
            fld(
                "ConvertedContactId",
                "reference",
                18,
                "ro",
                ref="Contact",
                rel="ConvertedContact",
                label="Converted Contact ID",
            ),
            fld("IsUnreadByOwner", "boolean", 0, label="Unread By Owner"),
            fld("DoNotCall", "boolean", 0, label="Do Not Call"),
            fld("HasOptedOutOfFax", "boolean", 0, label="Fax Opt Out"),
            fld("LastActivityDate", "date", 0, "ro", label="Last Activity"),
            *_activity_dates(),
            *_data_com(),
            fld("CompanyDunsNumber", "string", 9, label="Company D-U-N-S Number"),
            fld("EmailBouncedReason", "string", 255, "nocreate", label="Email Bounced Reason"),
            fld("EmailBouncedDate", "datetime", 0, "nocreate", label="Email Bounced Date"),
            fld("IsPriorityRecord", "boolean", 0, "ro nofilter", label="Important"),
            custom_id_field(),
        ],
    )


def case() -> SObjectDef:
    return _obj(
        "Case",
        "500",
        "Cases",
        [
            *system_fields("Case ID"),
            fld(
                "MasterRecordId",
                "reference",
                18,
                "ro",
                ref="Case",
                rel="MasterRecord",
                label="Master Record ID",
            ),
            fld("CaseNumber", "string", 30, "auto idl name", label="Case Number"),
            fld("ContactId", "reference", 18, ref="Contact", rel="Contact", label="Contact ID"),
            fld("AccountId", "reference", 18, ref="Account", rel="Account", label="Account ID"),
            fld("ParentId", "reference", 18, ref="Case", rel="Parent", label="Parent Case ID"),
            fld("SuppliedName", "string", 80, label="Name"),
            fld("SuppliedEmail", "email", 80, label="Email Address"),
            fld("SuppliedPhone", "string", 40, label="Phone"),
            fld("SuppliedCompany", "string", 80, label="Company"),
            fld("Type", "picklist", 255, values=CASE_TYPE, label="Case Type"),
            fld("Status", "picklist", 255, values=CASE_STATUS, default="New"),
            fld("Reason", "picklist", 255, values=CASE_REASON, label="Case Reason"),
            fld("Origin", "picklist", 255, values=CASE_ORIGIN, label="Case Origin"),
            fld("Subject", "string", 255),
            fld("Priority", "picklist", 255, values=CASE_PRIORITY, default="Medium"),
            fld("Description", "textarea", 32000),
            fld("IsClosed", "boolean", 0, "ro", label="Closed"),
            fld("ClosedDate", "datetime", 0, "ro", label="Closed Date"),
            fld("IsEscalated", "boolean", 0, label="Escalated"),
            _owner(queues=True),
            fld("ContactPhone", "phone", 40, "ro", label="Contact Phone"),
            fld("ContactMobile", "phone", 40, "ro", label="Contact Mobile"),
            fld("ContactEmail", "email", 80, "ro", label="Contact Email"),
            fld("ContactFax", "phone", 40, "ro", label="Contact Fax"),
            fld("Comments", "textarea", 4000, "nofilter", label="Internal Comments"),
            *_activity_dates(),
            custom_id_field(),
        ],
    )


def contract() -> SObjectDef:
    return _obj(
        "Contract",
        "800",  # key prefix: see docs/salesforce-facts.md#record-ids
        "Contracts",
        [
            *system_fields("Contract ID"),
            fld("AccountId", "reference", 18, "req", ref="Account", rel="Account", label="Account ID"),
            fld(
                "OwnerExpirationNotice",
                "picklist",
                255,
                values=CONTRACT_NOTICE,
                label="Owner Expiration Notice",
            ),
            fld("StartDate", "date", 0, label="Contract Start Date"),
            fld("EndDate", "date", 0, "ro", label="Contract End Date"),
            *address_fields("Billing", "Billing", GEOCODE_ACCURACY),
            fld("ContractTerm", "int", 4, label="Contract Term"),
            _owner(),
            _no_default_entry(fld("Status", "picklist", 255, "req", values=CONTRACT_STATUS, default="Draft")),
            fld(
                "CompanySignedId",
                "reference",
                18,
                ref="User",
                rel="CompanySigned",
                label="Company Signed By ID",
            ),
            fld("CompanySignedDate", "date", 0, label="Company Signed Date"),
            fld(
                "CustomerSignedId",
                "reference",
                18,
                ref="Contact",
                rel="CustomerSigned",
                label="Customer Signed By ID",
            ),
            fld("CustomerSignedTitle", "string", 40, label="Customer Signed Title"),
            fld("CustomerSignedDate", "date", 0, label="Customer Signed Date"),
            fld("SpecialTerms", "textarea", 4000, "filter", label="Special Terms"),
            fld(
                "ActivatedById",
                "reference",
                18,
                "nocreate",
                ref="User",
                rel="ActivatedBy",
                label="Activated By ID",
            ),
            fld("ActivatedDate", "datetime", 0, "nocreate", label="Activated Date"),
            fld(
                "StatusCode",
                "picklist",
                255,
                "req def ro",
                values=CONTRACT_STATUS_CODE,
                label="Status Category",
            ),
            fld("Description", "textarea", 32000),
            fld("Name", "string", 80, label="Contract Name"),
            fld("ContractNumber", "string", 30, "auto idl name", label="Contract Number"),
            fld("LastApprovedDate", "datetime", 0, "ro", label="Last Approved Date"),
            fld("LastActivityDate", "date", 0, "ro", label="Last Activity"),
            *_activity_dates(),
            custom_id_field(),
        ],
    )


def group() -> SObjectDef:
    """Group: public groups and queues. The emulator seeds its queues (``OrgConfig.queues``) as Group
    records of Type ``Queue``; they can own Leads and Cases. Like a real Group it has no IsDeleted and no
    recent-view dates; RelatedId (a role or user the org keeps for role groups) is left out, as the
    emulator has no UserRole object."""
    system = [f for f in system_fields("Group ID") if f.name != "IsDeleted"]
    return _obj(
        "Group",
        "00G",
        "Groups",
        [
            system[0],
            fld("Name", "string", 40, "req name"),
            fld("DeveloperName", "string", 80, label="Developer Name"),
            _unlabelled(fld("Type", "picklist", 40, "req noupdate restrict", values=GROUP_TYPES)),
            fld("Email", "email", 255),
            fld(
                "OwnerId",
                "reference",
                18,
                "req def ro",
                ref=("Organization", "User"),
                rel="Owner",
                label="Owner ID",
            ),
            fld("DoesSendEmailToMembers", "boolean", 0, label="Send Email to Members"),
            fld("DoesIncludeBosses", "boolean", 0, label="Include Bosses"),
            *system[1:],
            fld("Description", "textarea", 255),
        ],
    )


def user() -> SObjectDef:
    """The emulator has no Profile or UserRole objects, so User leaves out ProfileId and UserRoleId: every
    reference of the default org points at an object the org has."""
    return _obj(
        "User",
        "005",
        "Users",
        [
            *system_fields("User ID"),
            fld("Username", "string", 80, "req idl uniq"),
            *_person_name(salutation=False),
            fld("CompanyName", "string", 80, label="Company Name"),
            fld("Division", "string", 80),
            fld("Department", "string", 80),
            fld("Title", "string", 80),
            *address_fields("", "", GEOCODE_ACCURACY),
            fld("Email", "email", 128, "req"),
            fld("Phone", "phone", 40),
            fld("MobilePhone", "phone", 40, label="Mobile"),
            fld("Alias", "string", 8, "req"),
            fld("CommunityNickname", "string", 40, "req def idl", label="Nickname"),
            fld("IsActive", "boolean", 0, default=True, label="Active"),
            fld("TimeZoneSidKey", "picklist", 40, "req restrict", values=TIME_ZONES, label="Time Zone"),
            fld("LocaleSidKey", "picklist", 40, "req restrict", values=LOCALES, label="Locale"),
            fld(
                "EmailEncodingKey",
                "picklist",
                40,
                "req restrict",
                values=EMAIL_ENCODINGS,
                label="Email Encoding",
            ),
            fld("LanguageLocaleKey", "picklist", 40, "req restrict", values=LANGUAGES, label="Language"),
            fld("ManagerId", "reference", 18, ref="User", rel="Manager", label="Manager ID"),
            fld("UserType", "picklist", 40, "def ro restrict", values=USER_TYPES, label="User Type"),
            fld("FederationIdentifier", "string", 512, "idl", label="SAML Federation ID"),
            fld("LastLoginDate", "datetime", 0, "ro", label="Last Login"),
            *_activity_dates(),
        ],
        deletable=False,
    )


def organization() -> SObjectDef:
    return _obj(
        "Organization",
        "00D",
        "Organizations",
        [
            *system_fields("Organization ID"),
            fld("Name", "string", 80, "req name", label="Name"),
            fld("Division", "string", 80),
            *address_fields("", "", GEOCODE_ACCURACY),
            fld("Phone", "phone", 40),
            fld("Fax", "phone", 40),
            fld("PrimaryContact", "string", 80, label="Primary Contact"),
            fld("DefaultLocaleSidKey", "picklist", 40, "req restrict", values=LOCALES, label="Locale"),
            fld("TimeZoneSidKey", "picklist", 40, "req restrict", values=TIME_ZONES, label="Time Zone"),
            fld("LanguageLocaleKey", "picklist", 40, "req restrict", values=LANGUAGES, label="Language"),
            fld("InstanceName", "string", 5, "ro", label="Instance Name"),
            fld("IsSandbox", "boolean", 0, "ro", label="Is Sandbox"),
            fld("TrialExpirationDate", "datetime", 0, "ro", label="Trial Expiration Date"),
            fld("NamespacePrefix", "string", 15, "ro", label="Namespace Prefix"),
            fld("OrganizationType", "picklist", 40, "ro restrict", values=ORG_TYPES, label="Edition"),
        ],
        createable=False,
        deletable=False,
    )


#: The standard objects, in the order describeGlobal lists them (alphabetical, as Salesforce does).
STANDARD_OBJECTS = (account, case, contact, contract, group, lead, organization, user)
