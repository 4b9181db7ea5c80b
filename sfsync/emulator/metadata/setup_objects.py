"""Record types: the setup object an org file fills per object, not API clients.

``RecordType`` holds the record types an org file declares per object; an object with record types gets
a ``RecordTypeId`` field (``record_type_field``) and describes them in ``recordTypeInfos``. It is read-only
through the API here (a real org creates record types in Setup or through the Metadata API); the record
engine seeds its rows from the ``OrgConfig``, like users and queues (``Group``, in ``standard_objects``).
"""

from __future__ import annotations

from sfsync.emulator.metadata.fieldkit import fields_by_name, fld, system_fields
from sfsync.emulator.metadata.ids import IdFactory
from sfsync.emulator.metadata.model import FieldDef, SObjectDef

#: Key prefix Salesforce gives record types.
RECORD_TYPE_PREFIX = "012"
#: Pod of the ids minted for seeded record types (the same as seeded users).
SEED_POD = "8d"


def record_type_id(n: int) -> str:
    """The id of the n-th record type an org file declares (1-based, across objects)."""
    return IdFactory(RECORD_TYPE_PREFIX, pod=SEED_POD).make(n)


def record_type() -> SObjectDef:
    fields = [
        *system_fields("Record Type ID"),
        fld("Name", "string", 80, "req name", label="Record Type Label"),
        fld("DeveloperName", "string", 80, "req", label="Record Type Name"),
        fld("SobjectType", "string", 40, "req", label="SObject Type Name"),
        fld("IsActive", "boolean", 0, label="Active"),
        fld("Description", "string", 255),
    ]
    return SObjectDef(
        name="RecordType",
        key_prefix=RECORD_TYPE_PREFIX,
        label="Record Type",
        label_plural="Record Types",
        createable=False,
        updateable=False,
        deletable=False,
        fields=fields_by_name(fields),
    )


def record_type_field() -> FieldDef:
    """``RecordTypeId``: what an object with record types describes. As in a recorded real describe
    (CumulusCI ``tests/shared_cassettes/GET_sobjects_Account_describe.yaml``) it is createable, updateable,
    nillable and *not* ``defaultedOnCreate``, though a create that leaves it out gets the default record type.
    """
    return fld(
        "RecordTypeId", "reference", 18, "", ref="RecordType", rel="RecordType", label="Record Type ID"
    )


#: The setup objects, added to the default org after the standard objects.
SETUP_OBJECTS = (record_type,)
