"""Field values: conversion of REST JSON values and Bulk CSV cells to stored values, with Salesforce's errors.

One ``Codec`` per field is compiled once (per org) and then applied to every value, so the Bulk hot path
is one function call per cell. Stored values are SQLite-friendly: str, int, float, 0/1 for booleans,
dates ``YYYY-MM-DD``, datetimes normalized to UTC ``YYYY-MM-DDTHH:MM:SS.000+0000``, times ``HH:MM:SS.000Z``.
A bad value raises ``FieldValueError`` carrying the per-record error (status code, message, field).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sfsync.emulator.metadata import ids
from sfsync.emulator.metadata.model import FieldDef
from sfsync.emulator.records.results import RecordError

STRING_TYPES = frozenset(
    {
        "string",
        "textarea",
        "email",
        "phone",
        "url",
        "picklist",
        "multipicklist",
        "combobox",
        "encryptedstring",
        "base64",
        "anyType",
    }
)
ID_TYPES = frozenset({"id", "reference"})
INT_TYPES = frozenset({"int", "long"})
FLOAT_TYPES = frozenset({"double", "currency", "percent"})
COMPOUND_TYPES = frozenset({"address", "location"})  # computed from their parts, never stored

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$"
)
_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z?$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class FieldValueError(Exception):
    """A value a field cannot take; ``error`` is the per-record error to report."""

    def __init__(self, error: RecordError) -> None:
        super().__init__(error.message)
        self.error = error


def label_of(fd: FieldDef) -> str:
    """The field label used in error messages: describe's label, else derived from the API name."""
    if fd.label:
        return fd.label
    name = fd.name[:-3] if fd.name.endswith("__c") else fd.name
    return _CAMEL.sub(" ", name.replace("_", " ")).strip()


def sql_type(fd: FieldDef) -> str:
    """The SQLite column declaration (type affinity and collation) of a stored field."""
    if fd.type in INT_TYPES or fd.type == "boolean":
        return "INTEGER"
    if fd.type in FLOAT_TYPES:
        return "REAL"
    if fd.type in ID_TYPES or fd.case_sensitive:
        return "TEXT"
    # SOQL compares and sorts text case-insensitively (except caseSensitive fields).
    return "TEXT COLLATE NOCASE"


def format_datetime(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.000+0000"


def now_utc() -> str:
    return format_datetime(datetime.now(UTC))


def parse_datetime(text: str) -> str | None:
    """Normalized UTC text of a datetime literal, or None when it is not one."""
    m = _DATETIME.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, s, _frac, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if offset >= timedelta(hours=24):
            return None
        dt = dt.replace(tzinfo=timezone(sign * offset))
    else:
        dt = dt.replace(tzinfo=UTC)
    return format_datetime(dt)


def parse_date(text: str) -> str | None:
    m = _DATE.match(text)
    if m is None:
        return None
    try:
        datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    return text


def parse_time(text: str) -> str | None:
    m = _TIME.match(text)
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59 or int(m.group(3) or 0) > 59:
        return None
    return f"{m.group(1)}:{m.group(2)}:{m.group(3) or '00'}.{(m.group(4) or '').ljust(3, '0')}Z"


class Codec:
    """Converts one field's incoming values (JSON or CSV text) to stored values, and stored values to JSON."""

    def __init__(self, fd: FieldDef, prefixes: dict[str, str]) -> None:
        """``prefixes`` maps key prefix → object name, to check the target of reference fields."""
        self.field = fd
        self.label = label_of(fd)
        self.stored = fd.type not in COMPOUND_TYPES
        #: For text stored as given (no email/picklist rule): its max length (0 = none), so the Bulk hot path
        #: can check it inline; None when every value must go through ``from_text``.
        self.plain_limit: int | None = (
            fd.length
            if fd.type in STRING_TYPES and fd.type != "email" and not fd.restricted_picklist
            else None
        )
        self.from_text: Callable[[str], Any] = self._build_text(fd, prefixes)
        self.to_json: Callable[[Any], Any] = self._build_out(fd)

    # ---- errors --------------------------------------------------------------------------------
    def fail(self, code: str, message: str) -> FieldValueError:
        return FieldValueError(RecordError(code, message, [self.field.name]))

    def bad_type(self, value: Any) -> FieldValueError:
        return self.fail(
            "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{self.label}: value not of required type: {value}"
        )

    # ---- JSON in -------------------------------------------------------------------------------
    def from_json(self, value: Any) -> Any:
        """Stored value of a REST JSON value; ``None`` clears the field."""
        if value is None:
            return None
        t = self.field.type
        if isinstance(value, bool):
            if t == "boolean":
                return 1 if value else 0
            if t in STRING_TYPES:
                return self.from_text("true" if value else "false")
            raise self.bad_type(str(value).lower())
        if isinstance(value, int | float):
            if t in INT_TYPES:
                if isinstance(value, float) and not value.is_integer():
                    raise self.bad_type(value)
                return self._check_int(int(value))
            if t in FLOAT_TYPES:
                return self._check_float(float(value))
            if t in STRING_TYPES:
                return self.from_text(str(value))
            raise self.bad_type(value)
        if isinstance(value, str):
            return self.from_text(value)
        raise self.bad_type(value)

    # ---- text in (CSV cells and JSON strings) ---------------------------------------------------
    def _build_text(self, fd: FieldDef, prefixes: dict[str, str]) -> Callable[[str], Any]:
        t = fd.type
        if t in ID_TYPES:
            return self._id_converter(fd, prefixes)
        if t in STRING_TYPES:
            return self._string_converter(fd)
        if t in INT_TYPES:
            return self._int_converter()
        if t in FLOAT_TYPES:
            return self._float_converter()
        if t == "boolean":
            return self._bool_converter()
        parser = {"date": parse_date, "datetime": parse_datetime, "time": parse_time}.get(t)
        if parser is not None:
            return self._temporal_converter(parser)
        return self._read_only_converter(fd)

    def _int_converter(self) -> Callable[[str], Any]:
        def to_int(text: str) -> Any:
            try:
                return self._check_int(int(text))
            except ValueError:
                try:
                    f = float(text)
                except ValueError:
                    raise self.bad_type(text) from None
                if not f.is_integer():
                    raise self.bad_type(text) from None
                return self._check_int(int(f))

        return to_int

    def _float_converter(self) -> Callable[[str], Any]:
        def to_float(text: str) -> Any:
            try:
                f = float(text)
            except ValueError:
                raise self.bad_type(text) from None
            if f != f or f in (float("inf"), float("-inf")):
                raise self.bad_type(text)
            return self._check_float(f)

        return to_float

    def _bool_converter(self) -> Callable[[str], Any]:
        def to_bool(text: str) -> Any:
            low = text.strip().lower()
            if low in ("true", "1"):
                return 1
            if low in ("false", "0"):
                return 0
            raise self.bad_type(text)

        return to_bool

    def _temporal_converter(self, parse: Callable[[str], Any]) -> Callable[[str], Any]:
        def to_temporal(text: str) -> Any:
            out = parse(text.strip())
            if out is None:
                raise self.bad_type(text)
            return out

        return to_temporal

    def _read_only_converter(self, fd: FieldDef) -> Callable[[str], Any]:
        def read_only(text: str) -> Any:
            raise self.fail(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {fd.name}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
            )

        return read_only

    def _string_converter(self, fd: FieldDef) -> Callable[[str], Any]:
        max_len = fd.length or 0
        label = self.label
        email = fd.type == "email"
        allowed: frozenset[str] | None = None
        if fd.restricted_picklist and fd.type in ("picklist", "multipicklist"):
            allowed = frozenset(v.value for v in fd.picklist_values if v.active)
        multi = fd.type == "multipicklist"

        def to_str(text: str) -> Any:
            if max_len and len(text) > max_len:
                raise self.fail(
                    "STRING_TOO_LONG", f"{label}: data value too large: {text} (max length={max_len})"
                )
            if email and _EMAIL.match(text) is None:
                raise self.fail("INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {text}")
            if allowed is not None:
                for part in text.split(";") if multi else (text,):
                    if part not in allowed:
                        raise self.fail(
                            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                            f"{label}: bad value for restricted picklist field: {part}",
                        )
            return text

        return to_str

    def _id_converter(self, fd: FieldDef, prefixes: dict[str, str]) -> Callable[[str], Any]:
        targets = {p for p, name in prefixes.items() if name in fd.reference_to}
        label = self.label

        def to_id(text: str) -> Any:
            norm = ids.normalize(text)
            if norm is None:
                raise self.fail("MALFORMED_ID", f"{label}: id value of incorrect type: {text}")
            if targets and norm[:3] not in targets:
                raise self.fail("INVALID_CROSS_REFERENCE_KEY", f"{label}: id value of incorrect type: {text}")
            return norm

        return to_id

    def _check_int(self, value: int) -> int:
        digits = self.field.digits or (18 if self.field.type == "long" else 9)
        if abs(value) >= 10**digits:
            raise self.fail(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{self.label}: value outside of valid range on numeric field: {value}",
            )
        return value

    def _check_float(self, value: float) -> float:
        """A number for a double/currency/percent field: its whole part must fit the field's
        ``precision - scale`` digits, and it is stored *as sent*, with every decimal.

        Salesforce does not round API writes to the field's decimal places: "if you then set a value via
        API, say 237.631, it'll be stored in the database - and returned via API (e.g. SOQL query) - as
        237.631" on a field with 1 decimal place; only the UI rounds what it displays (half up). Salesforce
        Help knowledge articles 000212661 ("Why is the field of data type number storing more numbers in
        decimal places than defined?") and 000387302 ("Salesforce Number Field Stores More Decimal Places
        Than Defined When Set via API or Apex")."""
        fd = self.field
        if value != value or value in (float("inf"), float("-inf")):
            raise self.bad_type(value)
        if fd.precision and abs(value) >= 10.0 ** (fd.precision - fd.scale):
            raise self.fail(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{self.label}: value outside of valid range on numeric field: {value}",
            )
        return value

    # ---- stored value out ----------------------------------------------------------------------
    @staticmethod
    def _build_out(fd: FieldDef) -> Callable[[Any], Any]:
        if fd.type == "boolean":
            return lambda v: None if v is None else bool(v)
        if fd.type in FLOAT_TYPES:
            return lambda v: None if v is None else float(v)
        if fd.type in INT_TYPES:
            return lambda v: None if v is None else int(v)
        return lambda v: v


_ADDRESS_PARTS = (
    ("city", "City"),
    ("country", "Country"),
    ("countryCode", "CountryCode"),
    ("geocodeAccuracy", "GeocodeAccuracy"),
    ("latitude", "Latitude"),
    ("longitude", "Longitude"),
    ("postalCode", "PostalCode"),
    ("state", "State"),
    ("stateCode", "StateCode"),
    ("street", "Street"),
)


def compound_parts(fd: FieldDef) -> list[tuple[str, str]]:
    """(JSON key, part field name) of a compound address/location field, e.g. BillingAddress → BillingCity."""
    if fd.type == "address":
        prefix = fd.name[: -len("Address")] if fd.name.endswith("Address") else fd.name
        return [(key, prefix + part) for key, part in _ADDRESS_PARTS]
    if fd.type == "location":
        prefix = fd.name[:-3] if fd.name.endswith("__c") else fd.name
        return [
            ("latitude", prefix + "__Latitude__s" if fd.custom else "Latitude"),
            ("longitude", prefix + "__Longitude__s" if fd.custom else "Longitude"),
        ]
    return []


def compound_value(fd: FieldDef, row: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON value of a compound field from the stored parts in ``row`` (None when all parts are null)."""
    out = {key: row[part] for key, part in compound_parts(fd) if part in row}
    return out if any(v is not None for v in out.values()) else None
