"""SQLite storage of an emulated org: one table per object, one column per field, the 18-char Id as key.

Tables are named after the object's API name; ``IsDeleted`` always exists (soft delete). A polymorphic
reference (Lead.OwnerId → Group or User) reads its parent through a temporary view, the ``Name``
entity, that unions the target tables (``name_table``). Text columns
compare case-insensitively (``COLLATE NOCASE``) unless the field is caseSensitive, like SOQL. Unique,
external-id and reference fields are indexed. Derived read-only fields (compound ``Name`` of objects with
FirstName and LastName, Contract.EndDate, Case.IsClosed) are generated columns. Id and autonumber
sequences live in ``_sfsync_seq`` so a reopened org keeps minting fresh values.

One connection (``check_same_thread=False``) guarded by ``lock``; files use WAL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sfsync.emulator.metadata import ids
from sfsync.emulator.metadata.automation import AUTOMATION_OBJECTS, seed_rows
from sfsync.emulator.metadata.model import FieldDef, OrgConfig, SObjectDef
from sfsync.emulator.records.validate import Codec, label_of, now_utc, sql_type

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: SQLite page cache per connection, in KiB (negative = KiB for PRAGMA cache_size).
CACHE_KIB = 131072
#: Store records in the Id b-tree itself (one b-tree per table instead of rowid table + Id index).
#: Off: measured at 1M rows, rowid tables append faster (SQLite's quick balance for appends) and the
#: file is 10% smaller.
WITHOUT_ROWID = False
#: Page size of new database files, in bytes (larger pages: fewer b-tree levels for wide records).
PAGE_SIZE = 8192
#: WAL pages written before SQLite checkpoints into the main file; Bulk chunks write several MB, so the
#: default of 1,000 would checkpoint (and fsync) on nearly every chunk.
WAL_AUTOCHECKPOINT_PAGES = 16384
#: Bytes of the database file memory-mapped for reads.
MMAP_BYTES = 1 << 30
#: Pod characters of minted ids (characters 4-5), as ``IdFactory`` uses.
ID_POD = "8d"
#: First value and width of autonumber fields (CaseNumber ``00001000``, ...).
AUTONUMBER_START = 1000
AUTONUMBER_DIGITS = 8
#: Objects whose records are seeded from the org configuration and survive ``reset``.
SEEDED_OBJECTS = ("User", "Organization", "Group", "RecordType", *AUTOMATION_OBJECTS)
#: Fields of the ``Name`` entity a polymorphic relationship exposes (``Lead.Owner.Name``), as Salesforce
#: documents it (Object Reference, "Name"); a target object lacking one gives null. ``Type`` is the
#: target's own Type field when it has one (Group: ``Queue``), else the object name (``User``).
NAME_ENTITY_FIELDS = (
    "Name",
    "Type",
    "Alias",
    "Email",
    "FirstName",
    "LastName",
    "IsActive",
    "Phone",
    "Title",
    "Username",
    "LastViewedDate",
    "LastReferencedDate",
)
#: Column of the ``Name`` view that holds each row's real object name (for the record's url).
NAME_SOBJECT_COLUMN = "_sobject"
#: Fields the engine maintains itself on every write.
AUDIT_FIELDS = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")


_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
#: The last two base-62 digits of a sequence number, with their checksum bits (positions 3 and 4 of the
#: third 5-character chunk).
_PAIRS = [
    (a + b, (8 if "A" <= a <= "Z" else 0) | (16 if "A" <= b <= "Z" else 0)) for a in _BASE62 for b in _BASE62
]


def mint_range(head: str, first: int, count: int) -> list[str]:
    """18-char ids ``head`` (prefix + pod, 5 chars) + 10 base-62 digits of first..first+count-1 + checksum.

    Same ids as ``IdFactory.make``, minted a high part at a time so a 10,000-id chunk costs microseconds.
    """
    out: list[str] = []
    n = first
    end = first + count
    while n < end:
        high, low = divmod(n, 3844)
        digits = []
        h = high
        for _ in range(8):
            h, r = divmod(h, 62)
            digits.append(_BASE62[r])
        body = head + "".join(reversed(digits))  # 13 chars: chunks 1, 2 and the first 3 chars of chunk 3
        c1 = ids.checksum(body + "00")[:2]
        bits3 = sum(1 << i for i, ch in enumerate(body[10:13]) if "A" <= ch <= "Z")
        stop = min(3844, low + end - n)
        out.extend(body + pair + c1 + _SUFFIX[bits3 | pbits] for pair, pbits in _PAIRS[low:stop])
        n += stop - low
    return out


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Table:
    """One object's table: its definition, stored fields and compiled codecs."""

    obj: SObjectDef
    sql: str  # quoted table name
    stored: list[FieldDef]  # fields with a column, in table order (Id first)
    codecs: dict[str, Codec]  # lower API name → codec, every field of the object
    generated: set[str] = field(default_factory=set)  # lower names of generated columns
    by_relationship: dict[str, FieldDef] = field(default_factory=dict)  # lower relationship name → field
    audit: list[str] = field(default_factory=list)  # audit fields this object defines
    autonumbers: list[FieldDef] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.obj.name

    def codec(self, name: str) -> Codec | None:
        return self.codecs.get(name.lower())

    def has(self, name: str) -> bool:
        return name.lower() in self.codecs


def _indexed(fd: FieldDef) -> bool:
    """Unique, external-id and reference fields get a partial index (non-null values only, so sparse
    lookups cost nothing to maintain). The audit references every row shares (CreatedById,
    LastModifiedById) are left out: an index whose every entry has one key helps no lookup."""
    if fd.name == "Id" or fd.name in AUDIT_FIELDS:
        return False
    return fd.unique or fd.external_id or fd.id_lookup or fd.type == "reference"


#: Read-only fields the org derives from others, as SQL over the same row: (object, field) → expression.
#: They are virtual generated columns: always consistent, free to write, computed when read.
DERIVED_FIELDS: dict[tuple[str, str], str] = {
    ("Contract", "EndDate"): (
        'CASE WHEN "StartDate" IS NOT NULL AND "ContractTerm" IS NOT NULL '
        "THEN date(\"StartDate\", '+' || \"ContractTerm\" || ' months', '-1 day') END"
    ),
    ("Case", "IsClosed"): "coalesce(\"Status\" = 'Closed', 0)",
}
_COMPOUND_NAME = "trim(coalesce(\"FirstName\", '') || ' ' || coalesce(\"LastName\", ''))"


def _formulas(obj: SObjectDef) -> dict[str, str]:
    """Lower field name → SQL expression of the read-only fields derived from other fields of the row."""
    out = {}
    name = obj.fields.get("Name")
    if name is not None and not name.createable and "FirstName" in obj.fields and "LastName" in obj.fields:
        out["name"] = _COMPOUND_NAME  # Contact, Lead, User: "First Last"
    for (obj_name, field_name), expr in DERIVED_FIELDS.items():
        fd = obj.fields.get(field_name)
        if obj_name == obj.name and fd is not None and not fd.createable and not fd.updateable:
            out[field_name.lower()] = expr
    return out


class Store:
    """The SQLite database of one org. Every method expects the caller to hold ``lock``."""

    def __init__(self, config: OrgConfig, db_path: str | None = None) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(db_path or ":memory:", check_same_thread=False, isolation_level=None)
        self.conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only takes effect on a new file
        self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.conn.execute("PRAGMA temp_store = MEMORY")
        if db_path:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            self.conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        prefixes = {o.key_prefix: o.name for o in config.objects.values()}
        self.tables: dict[str, Table] = {}
        self._name_tables: dict[str, Table] = {}  # sorted lower target names → Name view
        self._seq: dict[str, int] = {}
        with self.lock, self.transaction():
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS _sfsync_seq (name TEXT PRIMARY KEY, next INTEGER NOT NULL)"
            )
            for name, value in self.conn.execute("SELECT name, next FROM _sfsync_seq"):
                self._seq[name] = value
            for obj in config.objects.values():
                self.tables[obj.name.lower()] = self._ensure_table(obj, prefixes)
            self.seed()
            for table in self.tables.values():
                self._sync_id_sequence(table)

    def _sync_id_sequence(self, table: Table) -> None:
        """Make the id sequence of ``table`` start after every id already stored with the minting pod."""
        low = table.obj.key_prefix + ID_POD
        top = self.conn.execute(
            f"SELECT max(Id) FROM {table.sql} WHERE Id >= ? AND Id < ?", (low, low + "~")
        ).fetchone()[0]
        if top is None:
            return
        n = 0
        for ch in top[5:15]:
            n = n * 62 + _BASE62.index(ch)
        name = "id:" + table.obj.key_prefix
        if self._seq.get(name, 1) <= n:
            self.reserve(name, n + 1 - self._seq.get(name, 1), 1)

    # ---- schema ----------------------------------------------------------------------------------
    def _ensure_table(self, obj: SObjectDef, prefixes: dict[str, str]) -> Table:
        codecs = {f.name.lower(): Codec(f, prefixes) for f in obj.fields.values()}
        formulas = _formulas(obj)
        generated = set(formulas)
        stored = [f for f in obj.fields.values() if codecs[f.name.lower()].stored]
        id_field = obj.fields.get("Id") or FieldDef(
            "Id", "id", nillable=False, createable=False, updateable=False
        )
        stored = [id_field] + [f for f in stored if f.name != "Id"]
        if "IsDeleted" not in obj.fields:  # soft delete needs it even when describe does not list it
            stored.append(
                FieldDef("IsDeleted", "boolean", nillable=False, createable=False, updateable=False)
            )
        table = Table(
            obj=obj,
            sql=quote(obj.name),
            stored=stored,
            codecs=codecs,
            generated=generated,
            by_relationship={
                f.relationship_name.lower(): f for f in obj.fields.values() if f.relationship_name
            },
            audit=[a for a in AUDIT_FIELDS if a in obj.fields],
            autonumbers=[f for f in obj.fields.values() if f.auto_number],
        )
        existing = {row[1].lower() for row in self.conn.execute(f"PRAGMA table_xinfo({table.sql})")}
        defs = []
        for f in stored:
            low = f.name.lower()
            if low == "id":
                col = '"Id" TEXT PRIMARY KEY'
            elif low == "isdeleted":
                col = '"IsDeleted" INTEGER NOT NULL DEFAULT 0'
            elif low in generated:
                col = f"{quote(f.name)} {sql_type(f)} GENERATED ALWAYS AS ({formulas[low]}) VIRTUAL"
            else:
                col = f"{quote(f.name)} {sql_type(f)}"
            if not existing:
                defs.append(col)
            elif low not in existing:
                self.conn.execute(f"ALTER TABLE {table.sql} ADD COLUMN {col}")
        if not existing:
            layout = " WITHOUT ROWID" if WITHOUT_ROWID else ""
            self.conn.execute(f"CREATE TABLE {table.sql} ({', '.join(defs)}){layout}")
        for f in stored:
            if _indexed(f):
                index = quote(f"ix_{obj.name}_{f.name}")
                self.conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {index} ON {table.sql} ({quote(f.name)}) "
                    f"WHERE {quote(f.name)} IS NOT NULL"
                )
        return table

    def table(self, name: str) -> Table | None:
        return self.tables.get(name.lower())

    def name_table(self, targets: tuple[str, ...]) -> Table | None:
        """The ``Name`` entity over ``targets`` (the referenceTo of a polymorphic field): a read-only table
        backed by a temporary view that unions the target tables, created on first use."""
        key = ",".join(sorted(t.lower() for t in targets))
        if key in self._name_tables:
            return self._name_tables[key]
        parts = [self.table(t) for t in targets]
        present = [t for t in parts if t is not None]
        if not present:
            return None
        fields: dict[str, FieldDef] = {"id": FieldDef("Id", "id", length=18, nillable=False)}
        for name in NAME_ENTITY_FIELDS:
            fd = next((t.obj.fields[name] for t in present if name in t.obj.fields), None)
            if name == "Type":
                fd = FieldDef("Type", "picklist", length=40)
            if fd is not None:
                fields[name.lower()] = FieldDef(fd.name, fd.type, fd.label, length=fd.length)
        view = quote("_name_" + "_".join(sorted(t.name for t in present)))
        arms = []
        for t in present:
            cols = ["Id", "IsDeleted", f"'{t.name}' AS {NAME_SOBJECT_COLUMN}"]
            for low, fd in fields.items():
                if low == "id":
                    continue
                if fd.name == "Type" and "Type" not in t.obj.fields:
                    expr = f"'{t.name}'"
                elif t.has(fd.name) and t.codecs[low].stored:
                    expr = quote(t.codecs[low].field.name)
                else:
                    expr = "NULL"
                collate = " COLLATE NOCASE" if "NOCASE" in sql_type(fd) else ""
                cols.append(f"{expr}{collate} AS {quote(fd.name)}")
            arms.append(f"SELECT {', '.join(cols)} FROM {t.sql}")
        self.conn.execute(f"CREATE TEMP VIEW IF NOT EXISTS {view} AS {' UNION ALL '.join(arms)}")
        obj = SObjectDef(
            name="Name", key_prefix="", label="Name", fields={f.name: f for f in fields.values()}
        )
        prefixes = {o.key_prefix: o.name for o in self.config.objects.values()}
        table = Table(
            obj=obj,
            sql=view,
            stored=list(fields.values()),
            codecs={low: Codec(fd, prefixes) for low, fd in fields.items()},
        )
        self._name_tables[key] = table
        return table

    def table_for_prefix(self, prefix: str) -> Table | None:
        obj = self.config.object_by_prefix(prefix)
        return None if obj is None else self.tables.get(obj.name.lower())

    # ---- transactions and sequences ---------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            self._reload_seq()
            raise
        self.conn.execute("COMMIT")

    def _reload_seq(self) -> None:
        self._seq = dict(self.conn.execute("SELECT name, next FROM _sfsync_seq").fetchall())

    def reserve(self, name: str, count: int, start: int) -> int:
        """Reserve ``count`` consecutive values of sequence ``name``, return the first (in a transaction)."""
        first = self._seq.get(name, start)
        self._seq[name] = first + count
        self.conn.execute(
            "INSERT INTO _sfsync_seq (name, next) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET next = excluded.next",
            (name, first + count),
        )
        return first

    def mint_ids(self, table: Table, count: int) -> list[str]:
        if count == 0:
            return []
        first = self.reserve("id:" + table.obj.key_prefix, count, 1)
        return mint_range(table.obj.key_prefix + ID_POD, first, count)

    def autonumbers(self, table: Table, fd: FieldDef, count: int) -> list[str]:
        first = self.reserve(f"auto:{table.name}.{fd.name}", count, AUTONUMBER_START)
        return [str(n).zfill(AUTONUMBER_DIGITS) for n in range(first, first + count)]

    # ---- seeded records ---------------------------------------------------------------------------
    def seed(self) -> None:
        """(Re)write the User records of ``config.users``, the Group records of ``config.queues`` (Type
        Queue), the Organization record, the record types (``RecordType``) the org file declares and the
        records of the org's assignment and duplicate rules."""
        now = now_utc()
        users = self.table("User")
        first_user = self.config.users[0].id if self.config.users else None
        if users is not None:
            for u in self.config.users:
                self._seed_row(
                    users,
                    {
                        "Id": u.id,
                        "Username": u.username,
                        "Email": u.email or u.username,
                        "FirstName": u.first_name or None,
                        "LastName": u.last_name or u.username.split("@")[0],
                        "IsActive": 1 if u.active else 0,
                        "TimeZoneSidKey": u.time_zone,
                        "Alias": ((u.first_name[:1] + u.last_name)[:8] or u.username[:8]),
                        "LanguageLocaleKey": "en_US",
                        "LocaleSidKey": "en_US",
                        "EmailEncodingKey": "UTF-8",
                        "UserType": "Standard",
                    },
                    now,
                    first_user,
                )
        groups = self.table("Group")
        if groups is not None:
            for q in self.config.queues:
                self._seed_row(
                    groups,
                    {
                        "Id": q.id,
                        "Name": q.name,
                        "DeveloperName": q.developer_name,
                        "Type": "Queue",
                        "Email": q.email,
                        "OwnerId": first_user,
                        "DoesSendEmailToMembers": 0,
                        "DoesIncludeBosses": 0,
                    },
                    now,
                    first_user,
                )
        org = self.table("Organization")
        if org is not None:
            c = self.config
            self._seed_row(
                org,
                {
                    "Id": c.org_id,
                    "Name": c.org_name,
                    "InstanceName": c.instance_name,
                    "IsSandbox": 1 if c.is_sandbox else 0,
                    "OrganizationType": "Developer Edition",
                    "NamespacePrefix": None,
                    "TrialExpirationDate": None,
                    "LanguageLocaleKey": "en_US",
                    "TimeZoneSidKey": "Europe/Paris",
                    "DefaultLocaleSidKey": "en_US",
                },
                now,
                first_user,
            )
        self._seed_record_types(now, first_user)
        for name, rows in seed_rows(self.config).items():
            table = self.table(name)
            if table is not None:
                for values in rows:
                    self._seed_row(table, values, now, first_user)

    def _seed_record_types(self, now: str, user: str | None) -> None:
        types = self.table("RecordType")
        if types is not None:
            for obj in self.config.objects.values():
                for rt in obj.record_types:
                    row = {"Id": rt.id, "Name": rt.label, "DeveloperName": rt.developer_name}
                    extra = {
                        "SobjectType": obj.name,
                        "IsActive": int(rt.active),
                        "Description": rt.description,
                    }
                    self._seed_row(types, {**row, **extra}, now, user)

    def _seed_row(self, table: Table, values: dict[str, Any], now: str, user: str | None) -> None:
        for a in table.audit:
            values[a] = now if a.endswith(("Date", "Modstamp")) else user
        cols = [f.name for f in table.stored if f.name.lower() not in table.generated and (f.name in values)]
        row = [values[c] for c in cols]
        self.conn.execute(
            f"INSERT OR REPLACE INTO {table.sql} ({', '.join(map(quote, cols))}) "
            f"VALUES ({', '.join('?' * len(cols))})",
            row,
        )

    def reset(self) -> None:
        with self.transaction():
            for table in self.tables.values():
                if table.name not in SEEDED_OBJECTS:
                    self.conn.execute(f"DELETE FROM {table.sql}")
            for name, seeded in (
                ("User", [u.id for u in self.config.users]),
                ("Group", [q.id for q in self.config.queues]),
            ):
                kept = self.table(name)
                if kept is not None:
                    self.conn.execute(
                        f"DELETE FROM {kept.sql} WHERE Id NOT IN (SELECT value FROM json_each(?))",
                        (json.dumps(seeded),),
                    )
            self.seed()

    def close(self) -> None:
        self.conn.close()


__all__ = ["AUDIT_FIELDS", "SEEDED_OBJECTS", "Store", "Table", "label_of", "quote"]
