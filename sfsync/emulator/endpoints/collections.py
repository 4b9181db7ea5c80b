"""sObject Collections: create, update, upsert, delete and retrieve up to 200 records a call.

Always HTTP 200 with one result per record, in request order (a request-level problem such as more
than 200 records or a malformed body is the 400 error array). Writes run the org's duplicate and
assignment rules as the request's headers say (``automation_headers``); a duplicate refusal is the
plain per-record error ``{"statusCode": "DUPLICATES_DETECTED", "message": <alert text>, "fields": []}``.
Records of several object types in one create are saved per type, in order; with ``allOrNone`` across
types, a failure in a later type cannot roll back an earlier type already written (a limitation of the
emulator, documented in docs/emulator.md).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from sfsync.emulator.endpoints.automation_headers import rest_rules
from sfsync.emulator.endpoints.wire import Call, api, json_response, slashed
from sfsync.emulator.records.org import OrgError, RecordError, SaveResult

MAX_COLLECTION_RECORDS = 200
"""Records one sObject Collections call may carry (Salesforce's limit)."""


def _limit(n: int) -> None:
    if n > MAX_COLLECTION_RECORDS:
        raise OrgError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_COLLECTION_RECORDS} records "
            f"into this call (got {n})",
        )


def _body(call: Call) -> tuple[list[dict[str, Any]], bool]:
    data = call.json_object()
    records = data.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise OrgError(400, "JSON_PARSER_ERROR", 'The request body needs "records": a list of JSON objects')
    _limit(len(records))
    return records, bool(data.get("allOrNone", False))


def _type_of(record: dict[str, Any]) -> str | None:
    attrs = record.get("attributes")
    if isinstance(attrs, dict) and isinstance(attrs.get("type"), str):
        return str(attrs["type"])
    return None


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes"}


def _no_type() -> SaveResult:
    return SaveResult(None, False, [RecordError("INVALID_TYPE", "Must send a concrete entity type.", [])])


def create(call: Call) -> Response:
    records, all_or_none = _body(call)
    results: list[SaveResult | None] = [None] * len(records)
    groups: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        obj = _type_of(rec)
        if obj is None or call.rt.config.object(obj) is None:
            results[i] = _no_type()
        else:
            groups.setdefault(obj, []).append(i)
    if all_or_none and any(r is not None for r in results):
        return _rolled_back(results)
    rules = rest_rules(call)
    for obj, idx in groups.items():
        saved = call.rt.org.create(
            obj,
            [_strip(records[i]) for i in idx],
            all_or_none=all_or_none,
            user_id=call.session.user.id,
            rules=rules,
        )
        for i, res in zip(idx, saved, strict=True):
            results[i] = res
    return json_response([r.to_json() for r in results if r is not None])


def _rolled_back(results: list[SaveResult | None]) -> Response:
    out = []
    for r in results:
        if r is None:
            r = SaveResult(
                None,
                False,
                [
                    RecordError(
                        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                        "Record rolled back because not all records were valid "
                        "and the request was using AllOrNone header",
                        [],
                    )
                ],
            )
        out.append(r.to_json())
    return json_response(out)


def update(call: Call) -> Response:
    """Records are checked against their ``attributes.type`` (an Id of another object is MALFORMED_ID)."""
    records, all_or_none = _body(call)
    results: list[SaveResult | None] = [None] * len(records)
    groups: dict[str | None, list[int]] = {}
    for i, rec in enumerate(records):
        obj = _type_of(rec)
        if obj is not None and call.rt.config.object(obj) is None:
            results[i] = _no_type()
        else:
            groups.setdefault(obj, []).append(i)
    if all_or_none and any(r is not None for r in results):
        return _rolled_back(results)
    rules = rest_rules(call)
    for obj, idx in groups.items():
        clean = []
        for i in idx:
            row = _strip(records[i])
            if "id" in row and "Id" not in row:
                row["Id"] = row.pop("id")
            clean.append(row)
        saved = call.rt.org.update(
            clean, obj=obj, all_or_none=all_or_none, user_id=call.session.user.id, rules=rules
        )
        for i, res in zip(idx, saved, strict=True):
            results[i] = res
    return json_response([r.to_json() for r in results if r is not None])


def upsert(call: Call) -> Response:
    records, all_or_none = _body(call)
    obj = call.rt.config.object(call.param("obj"))
    if obj is None:
        raise OrgError(400, "INVALID_TYPE", f"sObject type '{call.param('obj')}' is not supported.")
    ext = obj.field(call.param("field"))
    if ext is None:
        raise OrgError(
            400,
            "INVALID_FIELD",
            f"Field name provided, {call.param('field')} does not match an "
            f"External ID, Salesforce Id, or indexed field for {obj.name}",
        )
    saved = call.rt.org.upsert(
        obj.name,
        ext.name,
        [_strip(r) for r in records],
        all_or_none=all_or_none,
        user_id=call.session.user.id,
        rules=rest_rules(call),
    )
    return json_response([r.to_json() for r in saved])


def _ids(call: Call) -> list[str]:
    raw = call.query("ids") or ""
    ids = [i.strip() for i in raw.split(",") if i.strip()]
    if not ids:
        raise OrgError(400, "MALFORMED_QUERY", "The ids parameter is required: ?ids=001...,001...")
    _limit(len(ids))
    return ids


def delete(call: Call) -> Response:
    ids = _ids(call)
    all_or_none = (call.query("allOrNone") or "false").lower() == "true"
    saved = call.rt.org.delete(ids, all_or_none=all_or_none)
    return json_response([r.to_json() for r in saved])


def retrieve(call: Call) -> Response:
    """``GET /composite/sobjects/Obj?ids=...&fields=...``: records in order, null where not found."""
    obj = call.rt.config.object(call.param("obj"))
    if obj is None:
        raise OrgError(400, "INVALID_TYPE", f"sObject type '{call.param('obj')}' is not supported.")
    fields = [f.strip() for f in (call.query("fields") or "").split(",") if f.strip()]
    if not fields:
        raise OrgError(400, "MALFORMED_QUERY", "The fields parameter is required: ?fields=Id,Name")
    out: list[dict[str, Any] | None] = []
    for record_id in _ids(call):
        try:
            out.append(call.rt.org.get(obj.name, record_id, fields, call.version))
        except OrgError as e:
            if e.status != 404:
                raise
            out.append(None)
    return json_response(out)


def routes() -> list[Route]:
    v = "/services/data/{version}/composite/sobjects"
    return [
        *slashed(v, api(create), ["POST"]),
        Route(v, api(update), methods=["PATCH"], name="collections_update"),
        Route(v, api(delete), methods=["DELETE"], name="collections_delete"),
        Route(f"{v}/{{obj}}/{{field}}", api(upsert), methods=["PATCH"]),
        Route(f"{v}/{{obj}}", api(retrieve), methods=["GET"]),
    ]
