"""The picklist value sets a new org ships with, as recorded describes list them (order and labels).

A plain string is a value labelled with itself; ``(value, label)`` where the label differs. Used by
``standard_objects``; the org file can replace them per field.
"""

from __future__ import annotations

from sfsync.emulator.metadata.fieldkit import Choice

GEOCODE_ACCURACY: tuple[Choice, ...] = (
    "Address",
    ("NearAddress", "Near Address"),
    "Block",
    "Street",
    ("ExtendedZip", "Extended Zip"),
    "Zip",
    "Neighborhood",
    "City",
    "County",
    "State",
    "Unknown",
)
ACCOUNT_TYPE = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
INDUSTRY = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
RATING = ("Hot", "Warm", "Cold")
OWNERSHIP = ("Public", "Private", "Subsidiary", "Other")
LEAD_SOURCE = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
SALUTATION = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx.")
LEAD_STATUS = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
CASE_STATUS = ("New", "Working", "Escalated", "Closed")
CASE_PRIORITY = ("High", "Medium", "Low")
CASE_ORIGIN = ("Phone", "Email", "Web")
CASE_REASON = (
    "Installation",
    "Equipment Complexity",
    "Performance",
    "Breakdown",
    "Equipment Design",
    "Feedback",
    "Other",
)
CASE_TYPE = ("Mechanical", "Electrical", "Electronic", "Structural", "Other")
CONTRACT_STATUS = ("In Approval Process", "Activated", "Draft")
CONTRACT_STATUS_CODE: tuple[Choice, ...] = (
    "Draft",
    ("InApproval", "In Approval Process"),
    "Activated",
    "Terminated",
    "Expired",
    "Rejected",
    "Negotiating",
    ("AwaitingSignature", "Awaiting Signature"),
    ("SignatureDeclined", "Signature Declined"),
    "Signed",
    ("Cancelled", "Canceled"),
    ("Expired2", "Contract Expired"),
    ("Terminated2", "Contract Terminated"),
)
CONTRACT_NOTICE: tuple[Choice, ...] = tuple((d, f"{d} Days") for d in ("15", "30", "45", "60", "90", "120"))
#: Data.com clean status of Accounts, Contacts and Leads.
CLEAN_STATUS: tuple[Choice, ...] = (
    ("Matched", "In Sync"),
    "Different",
    ("Acknowledged", "Reviewed"),
    ("NotFound", "Not Found"),
    "Inactive",
    ("Pending", "Not Compared"),
    ("SelectMatch", "Select Match"),
    "Skipped",
)
#: Group.Type: what kind of group a Group record is (queues are ``Queue``).
GROUP_TYPES = (
    "AllCustomerPortal",
    "ChannelProgramGroup",
    "CollaborationGroup",
    "Manager",
    "ManagerAndSubordinatesInternal",
    "Organization",
    "Participant",
    "PRMOrganization",
    "Queue",
    "Regular",
    "Role",
    "RoleAndSubordinates",
    "RoleAndSubordinatesInternal",
    "SharingRecordCollGroup",
    "Territory",
    "TerritoryAndSubordinates",
)
TIME_ZONES = (
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Atlantic/Azores",
    "GMT",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "ja_JP", "pt_BR", "nl_NL")
LANGUAGES = ("en_US", "fr", "de", "es", "it", "ja", "pt_BR", "nl_NL")
EMAIL_ENCODINGS = ("UTF-8", "ISO-8859-1", "Shift_JIS", "EUC-JP", "ISO-2022-JP", "Big5", "GB2312")
USER_TYPES = ("Standard", "PowerPartner", "CsnOnly", "Guest", "AutomatedProcess")
ORG_TYPES = (
    "Team Edition",
    "Professional Edition",
    "Enterprise Edition",
    "Developer Edition",
    "Personal Edition",
    "Unlimited Edition",
    "Contact Manager Edition",
    "Base Edition",
)
