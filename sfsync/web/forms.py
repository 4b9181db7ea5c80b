"""The sync form: what the browser posts, turned into a :class:`SyncIn`, and what the form shows
(object picker, Object ID candidates, writable fields, type compatibility of each mapping row)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sfsync.api import LogicalType, compatible_field_types
from sfsync.config import ConstantTarget, Project, Sync
from sfsync.config.mappings import parse_target, target_text
from sfsync.errors import SyncRefused
from sfsync.web.schemas import ProblemOut, SyncIn

#: Blank mapping rows the form offers beyond the ones already filled in (at least this many rows shown).
MIN_MAPPING_ROWS = 3
#: Most mapping rows a form may post.
MAX_MAPPING_ROWS = 500
SCHEDULE_KINDS = ("manual", "every", "daily", "cron", "any")


@dataclass
class SyncForm:
    name: str = ""
    from_: str = ""
    to: str = ""
    object: str = ""
    mode: str = "upsert"
    oid_column: str = ""
    oid_field: str = ""
    columns: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    extra_rows: int = 0
    api: str = "auto"
    schedule_kind: str = "manual"
    schedule_value: str = ""
    on_failure: bool = True
    rejected_rows_percent: str = ""
    row_count_drop_percent: str = ""
    slower_than: str = ""
    warn_paused: bool = False
    notify: list[str] = field(default_factory=list)
    description: str = ""
    assignment_rules: str = "none"
    duplicate_rules: str = "enforce"
    #: ``on_row_removed`` as typed: a word (keep, clear, delete) or a YAML flow mapping
    on_row_removed: str = ""
    record_type: str = ""
    const_fields: list[str] = field(default_factory=list)  # constants: Field: {value: ...}
    const_values: list[str] = field(default_factory=list)

    @classmethod
    def from_form(cls, form: Any) -> SyncForm:
        def one(key: str) -> str:
            v = form.get(key)
            return v.strip() if isinstance(v, str) else ""

        def many(key: str) -> list[str]:
            return [v.strip() if isinstance(v, str) else "" for v in form.getlist(key)][:MAX_MAPPING_ROWS]

        extra = one("extra_rows")
        return cls(
            name=one("name"),
            from_=one("from"),
            to=one("to"),
            object=one("object"),
            mode=one("mode") or "upsert",
            oid_column=one("oid_column"),
            oid_field=one("oid_field"),
            columns=many("map_column"),
            fields=many("map_field"),
            extra_rows=min(int(extra), 50) if extra.isdigit() else 0,
            api=one("api") or "auto",
            schedule_kind=one("schedule_kind") or "manual",
            schedule_value=one("schedule_value"),
            on_failure=one("on_failure") in ("on", "true", "1"),
            rejected_rows_percent=one("rejected_rows_percent"),
            row_count_drop_percent=one("row_count_drop_percent"),
            slower_than=one("slower_than"),
            warn_paused=one("warn_paused") in ("on", "true", "1"),
            notify=[n for n in many("notify") if n],
            description=one("description"),
            assignment_rules=one("assignment_rules") or "none",
            duplicate_rules=one("duplicate_rules") or "enforce",
            on_row_removed=one("on_row_removed"),
            record_type=one("record_type"),
            const_fields=many("const_field"),
            const_values=many("const_value"),
        )

    @classmethod
    def from_sync(cls, name: str, sync: Sync) -> SyncForm:
        sched = sync.schedule.model_dump()
        kind = next(iter(sched)) if len(sched) == 1 else "manual"
        value = "" if kind == "manual" else sched[kind]
        if kind == "any":
            value = json.dumps(value)
        w = sync.warnings
        return cls(
            name=name,
            from_=sync.from_,
            to=sync.to,
            object=sync.object,
            mode=sync.mode,
            oid_column=sync.object_id.column if sync.object_id else "",
            oid_field=sync.object_id.field if sync.object_id else "",
            columns=[k for k, t in sync.mappings.items() if not isinstance(t, ConstantTarget)],
            fields=[target_text(t) for t in sync.mappings.values() if not isinstance(t, ConstantTarget)],
            record_type=sync.record_type or "",
            const_fields=[k for k, t in sync.mappings.items() if isinstance(t, ConstantTarget)],
            const_values=[
                _constant_text(t.value) for t in sync.mappings.values() if isinstance(t, ConstantTarget)
            ],
            api=sync.api,
            schedule_kind=kind,
            schedule_value=str(value),
            on_failure=w.on_failure,
            rejected_rows_percent="" if w.rejected_rows_percent is None else f"{w.rejected_rows_percent:g}",
            row_count_drop_percent=""
            if w.row_count_drop_percent is None
            else f"{w.row_count_drop_percent:g}",
            slower_than=w.slower_than or "",
            warn_paused=w.paused,
            notify=list(w.notify),
            description=sync.description or "",
            assignment_rules=sync.assignment_rules,
            duplicate_rules=sync.duplicate_rules,
            on_row_removed=_removal_text(sync),
        )

    def mapping_pairs(self) -> list[tuple[str, str]]:
        n = max(len(self.columns), len(self.fields))
        cols = self.columns + [""] * (n - len(self.columns))
        flds = self.fields + [""] * (n - len(self.fields))
        return list(zip(cols, flds, strict=True))

    def constant_rows(self) -> list[tuple[str, str]]:
        """Constants to show: the filled ones, then one blank row to add another."""
        n = max(len(self.const_fields), len(self.const_values))
        flds = self.const_fields + [""] * (n - len(self.const_fields))
        vals = self.const_values + [""] * (n - len(self.const_values))
        return [(f, v) for f, v in zip(flds, vals, strict=True) if f or v] + [("", "")]

    def rows(self) -> list[tuple[str, str]]:
        """Mapping rows to show: the filled ones, then blanks (at least MIN_MAPPING_ROWS rows in all)."""
        filled = [(c, f) for c, f in self.mapping_pairs() if c or f]
        blanks = max(MIN_MAPPING_ROWS - len(filled), 1) + self.extra_rows
        return filled + [("", "")] * blanks

    def schedule(self) -> tuple[dict[str, Any] | None, list[ProblemOut]]:
        kind, value = self.schedule_kind, self.schedule_value
        if kind not in SCHEDULE_KINDS:
            return None, [ProblemOut(message=f"unknown schedule kind {kind!r}", path="schedule")]
        if kind == "manual":
            return {"manual": True}, []
        if not value:
            return None, [
                ProblemOut(
                    message=f"schedule {kind} needs a value (e.g. 15m, 07:00, 0 7 * * 1-5)", path="schedule"
                )
            ]
        if kind == "any":
            try:
                parsed = YAML(typ="safe").load(value)
            except YAMLError as exc:
                return None, [ProblemOut(message=f"schedule any is not a YAML list: {exc}", path="schedule")]
            if not isinstance(parsed, list):
                return None, [
                    ProblemOut(
                        message='schedule any is a list like [{every: 15m}, {daily: "07:00"}]',
                        path="schedule",
                    )
                ]
            return {"any": parsed}, []
        return {kind: value}, []

    def warnings(self) -> tuple[dict[str, Any], list[ProblemOut]]:
        out: dict[str, Any] = {}
        problems: list[ProblemOut] = []
        if not self.on_failure:
            out["on_failure"] = False
        for key in ("rejected_rows_percent", "row_count_drop_percent"):
            text = getattr(self, key)
            if text:
                try:
                    out[key] = float(text)
                except ValueError:
                    problems.append(ProblemOut(message=f"{key} must be a number from 0 to 100", path=key))
        if self.slower_than:
            out["slower_than"] = self.slower_than
        if self.warn_paused:
            out["paused"] = True
        if self.notify:
            out["notify"] = list(self.notify)
        return out, problems

    def mappings(self) -> tuple[dict[str, Any], list[ProblemOut]]:
        """The mapping rows and fixed values as ``mappings`` entries, and what is wrong with them."""
        problems: list[ProblemOut] = []
        mappings: dict[str, Any] = {}
        for column, fld in self.mapping_pairs():
            if not column and not fld:
                continue
            if not column or not fld:
                message = "a mapping row needs both a column and a field"
                problems.append(ProblemOut(message=message, column=column or None, field=fld or None))
            elif column in mappings:
                problems.append(ProblemOut(message=f"column {column!r} is mapped twice", column=column))
            else:
                try:
                    mappings[column] = target_from_text(fld)
                except ValueError as exc:
                    problems.append(ProblemOut(message=str(exc), column=column, field=fld))
        for fld, text in self.constant_rows():
            if not fld and not text:
                continue
            if not fld or not text:
                message = "a fixed value needs both a field and a value"
                problems.append(ProblemOut(message=message, field=fld or None))
            elif fld in mappings:
                problems.append(ProblemOut(message=f"{fld!r} is both a column and a fixed value", field=fld))
            else:
                mappings[fld] = {"value": _constant_value(text)}
        return mappings, problems

    def to_sync_in(self) -> SyncIn:
        """The posted form as an API body; SyncRefused lists everything wrong with its shape."""
        mappings, problems = self.mappings()
        schedule, sp = self.schedule()
        warnings, wp = self.warnings()
        problems += sp + wp
        if (self.oid_column and not self.oid_field) or (self.oid_field and not self.oid_column):
            problems.append(
                ProblemOut(message="the Object ID needs both a column and a field", path="object_id")
            )
        oid = (
            {"column": self.oid_column, "field": self.oid_field}
            if self.oid_column and self.oid_field
            else None
        )
        removal: Any = None
        if self.on_row_removed.strip():
            try:
                removal = _YAML.load(self.on_row_removed)
            except YAMLError as exc:
                problems.append(
                    ProblemOut(message=f"on_row_removed: not valid YAML: {exc}", path="on_row_removed")
                )
        try:
            body = SyncIn.model_validate(
                {
                    "from": self.from_,
                    "to": self.to,
                    "object": self.object,
                    "mode": self.mode,
                    "object_id": oid,
                    "mappings": mappings,
                    "api": self.api,
                    "schedule": schedule,
                    "warnings": warnings or None,
                    "description": self.description or None,
                    "assignment_rules": self.assignment_rules,
                    "duplicate_rules": self.duplicate_rules,
                    "on_row_removed": dict(removal) if isinstance(removal, Mapping) else removal,
                    "record_type": self.record_type or None,
                }
            )
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                msg = "map at least one column to a field" if where == "mappings" else err["msg"]
                problems.append(ProblemOut(message=f"{where}: {msg}", path=where))
            body = None
        if problems or body is None:
            raise SyncRefused("the form has problems", problems)
        return body


def target_from_text(text: str) -> Any:
    """A mapping value typed in the form: a field or a lookup (``Account.External_Id__c``), or a YAML flow
    mapping (``{value: Warehouse}``, ``{owner: email}``); ValueError says what is wrong."""
    raw: Any = text
    if text.startswith("{"):
        try:
            raw = _YAML.load(text)
        except YAMLError as exc:
            raise ValueError(f"{text!r} is not a valid {{key: value}} mapping: {exc}") from None
        raw = dict(raw) if isinstance(raw, Mapping) else raw
    parse_target(raw)
    return raw


_YAML = YAML(typ="safe", pure=True)


def _removal_text(sync: Sync) -> str:
    """The sync's ``on_row_removed`` as the form shows it (empty for the default)."""
    setting = sync.on_row_removed
    if not setting.removes:
        return ""
    data = setting.model_dump(exclude_defaults=True)
    if set(data) == {"action"}:
        return str(data["action"])
    return json.dumps(data, default=str)


def _constant_value(text: str) -> Any:
    """A fixed value typed in the form, read as a YAML scalar: 2024-01-31 is a date, 12 a number, true a
    checkbox value; anything else (or anything quoted) is text."""
    try:
        value = _YAML.load(text)
    except YAMLError:
        return text
    return value if isinstance(value, str | int | float | bool | dt.date) else text


def _constant_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and _constant_value(value) != value:
        return json.dumps(value)  # quoted, so it stays text
    return str(value)


@dataclass(frozen=True)
class LookupOption:
    """A lookup (or owner) the mapping's field select offers, from describe's relationships."""

    value: str  # as written in mappings: Account.External_Id__c, User:Owner.Username, {owner: email}
    label: str
    parent_type: str | None  # the parent field's type (None: any text, for owners and record types)


def lookup_options(
    fields: list[Mapping[str, Any]],
    mode: str,
    describe_parent: Callable[[str], Mapping[str, Any] | None],
    record_types: list[str],
) -> list[LookupOption]:
    """Every lookup a writable reference field of the object allows: each parent's External ID and
    idLookup fields; owners by username, e-mail or queue; record types by DeveloperName."""
    out: list[LookupOption] = []
    for f in fields:
        if f.get("type") != "reference" or not f.get("relationshipName") or not writable(f, mode):
            continue
        rel, targets = str(f["relationshipName"]), [str(t) for t in f.get("referenceTo") or ()]
        if targets == ["RecordType"]:
            if record_types:
                out.append(
                    LookupOption(
                        "RecordType.DeveloperName",
                        f"RecordType.DeveloperName ({', '.join(record_types)})",
                        None,
                    )
                )
            continue
        for parent in targets:
            pd = describe_parent(parent)
            for pf in (pd or {}).get("fields", []):
                if pf.get("type") == "id" or not (pf.get("externalId") or pf.get("idLookup")):
                    continue
                prefix = f"{parent}:" if len(targets) > 1 else ""
                value = f"{prefix}{rel}.{pf['name']}"
                label = f"{value} (lookup: {f['name']} → {parent} by {pf['name']})"
                out.append(LookupOption(value, label, str(pf.get("type"))))
        if f["name"] == "OwnerId":
            kinds = ["username", "email"] + (["queue"] if "Group" in targets else [])
            for kind in kinds:
                out.append(
                    LookupOption(f"{{owner: {kind}}}", f"owner by {kind} (sfsync finds the OwnerId)", None)
                )
    return out


@dataclass(frozen=True)
class RowCheck:
    column: str
    field: str
    column_type: str | None
    field_type: str | None
    ok: bool | None  # None: not both known yet
    note: str


def check_rows(
    rows: list[tuple[str, str]],
    columns: Mapping[str, LogicalType],
    fields: Mapping[str, Mapping[str, Any]],
    lookups: list[LookupOption] | None = None,
) -> list[RowCheck]:
    """Type compatibility of each mapping row, as shown next to it in the form."""
    out = []
    by_value = {o.value: o for o in lookups or ()}
    for column, fld in rows:
        ctype = columns.get(column)
        option = by_value.get(fld)
        if option is not None and column and ctype is not None:
            want = option.parent_type
            good = ctype.value == "text" if want is None else want in compatible_field_types(ctype)
            note = f"{ctype.value} → {option.value}" if good else f"{ctype.value} cannot feed {option.value}"
            out.append(RowCheck(column, fld, ctype.value, want, good, note))
            continue
        f = fields.get(fld.lower()) if fld else None
        ftype = str(f.get("type")) if f is not None else None
        if not column or not fld:
            out.append(RowCheck(column, fld, ctype.value if ctype else None, ftype, None, ""))
        elif ctype is None:
            out.append(RowCheck(column, fld, None, ftype, False, f"{column} is not a column of the model"))
        elif f is None:
            out.append(RowCheck(column, fld, ctype.value, None, False, f"the object has no field {fld}"))
        else:
            ok_types = compatible_field_types(ctype)
            good = ftype in ok_types
            feeds = ", ".join(sorted(ok_types)) or "nothing"
            bad = f"{ctype.value} cannot feed {ftype} (it feeds {feeds})"
            note = f"{ctype.value} → {ftype}" if good else bad
            out.append(RowCheck(column, fld, ctype.value, ftype, good, note))
    return out


def writable(field_json: Mapping[str, Any], mode: str) -> bool:
    create, update = bool(field_json.get("createable")), bool(field_json.get("updateable"))
    if mode == "insert":
        return create
    if mode == "update":
        return update
    return create and update


def object_id_candidates(fields: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [f for f in fields if f.get("name") == "Id" or f.get("externalId") or f.get("idLookup")]


def sources_for(project: Project) -> list[tuple[str, str]]:
    """(name, label) of every model and segment a sync may read from."""
    out = [(n, f"{n} (model, {m.kind})") for n, m in project.models.items()]
    out += [
        (n, f"{n} (segment of {g.model}, {project.models[g.model].kind})")
        for n, g in project.segments.items()
    ]
    return out


__all__ = [
    "MIN_MAPPING_ROWS",
    "LookupOption",
    "RowCheck",
    "SyncForm",
    "check_rows",
    "lookup_options",
    "object_id_candidates",
    "sources_for",
    "writable",
]
