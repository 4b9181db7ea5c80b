"""The sync form: what the browser posts, turned into a :class:`SyncIn`, and what the form shows
(object picker, Object ID candidates, writable fields, type compatibility of each mapping row)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sfsync.api import LogicalType, compatible_field_types
from sfsync.config import Project, Sync
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
            columns=list(sync.mappings),
            fields=list(sync.mappings.values()),
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
        )

    def mapping_pairs(self) -> list[tuple[str, str]]:
        n = max(len(self.columns), len(self.fields))
        cols = self.columns + [""] * (n - len(self.columns))
        flds = self.fields + [""] * (n - len(self.fields))
        return list(zip(cols, flds, strict=True))

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

    def to_sync_in(self) -> SyncIn:
        """The posted form as an API body; SyncRefused lists everything wrong with its shape."""
        problems: list[ProblemOut] = []
        mappings: dict[str, str] = {}
        for column, fld in self.mapping_pairs():
            if not column and not fld:
                continue
            if not column or not fld:
                problems.append(
                    ProblemOut(
                        message="a mapping row needs both a column and a field",
                        column=column or None,
                        field=fld or None,
                    )
                )
                continue
            if column in mappings:
                problems.append(ProblemOut(message=f"column {column!r} is mapped twice", column=column))
                continue
            mappings[column] = fld
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


@dataclass(frozen=True)
class RowCheck:
    column: str
    field: str
    column_type: str | None
    field_type: str | None
    ok: bool | None  # None: not both known yet
    note: str


def check_rows(
    rows: list[tuple[str, str]], columns: Mapping[str, LogicalType], fields: Mapping[str, Mapping[str, Any]]
) -> list[RowCheck]:
    """Type compatibility of each mapping row, as shown next to it in the form."""
    out = []
    for column, fld in rows:
        ctype = columns.get(column)
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
    "RowCheck",
    "SyncForm",
    "check_rows",
    "object_id_candidates",
    "sources_for",
    "writable",
]
