"""The REST API: versions, resources, limits, describe, sObject rows, upsert by external id and query.

Query paging: the first page comes from the record engine's lazy iterator; when more rows remain the
iterator is kept in a cursor named like a real query locator (``01g…``; key prefix sources in
docs/salesforce-facts.md#record-ids) and ``GET nextRecordsUrl``
(``/services/data/vNN.N/query/01g…-2000``) reads the next page from it, so memory holds one page, not
the result. The last page served is kept for a retried request. The least recently used cursors are
dropped beyond :data:`MAX_OPEN_CURSORS`.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sfsync.emulator.endpoints import describe
from sfsync.emulator.endpoints.automation_headers import duplicate_error_body, rest_rules
from sfsync.emulator.endpoints.sessions import Runtime
from sfsync.emulator.endpoints.wire import (
    MAX_VERSION,
    NOT_FOUND_MESSAGE,
    VERSIONS,
    Call,
    api,
    json_response,
    slashed,
)
from sfsync.emulator.metadata.ids import IdFactory
from sfsync.emulator.metadata.model import SObjectDef
from sfsync.emulator.records.org import OrgError, QueryResult, SaveResult
from sfsync.emulator.records.write_rules import WriteRules

DEFAULT_QUERY_BATCH = 2000
"""Records per query page when the client does not ask (``Sforce-Query-Options: batchSize=N``)."""
MIN_QUERY_BATCH = 200
MAX_QUERY_BATCH = 2000
MAX_OPEN_CURSORS = 200
"""Query cursors kept for ``nextRecordsUrl``; the least recently used is dropped beyond this."""

_RELEASES = ["Winter", "Spring", "Summer"]


def version_label(version: str) -> str:
    """``59.0`` → ``Winter '24`` (50.0 was Winter '21; three releases a year)."""
    n = int(float(version)) - 50
    return f"{_RELEASES[n % 3]} '{21 + n // 3:02d}"


def versions_endpoint(request: Request) -> Response:
    return json_response(
        [{"label": version_label(v), "url": f"/services/data/v{v}", "version": v} for v in VERSIONS]
    )


def resources(call: Call) -> Response:
    p = call.prefix
    names = [
        "tooling",
        "metadata",
        "eclair",
        "folders",
        "prechatForms",
        "contact-tracing",
        "jsonxform",
        "chatter",
        "tabs",
        "appMenu",
        "quickActions",
        "queryAll",
        "commerce",
        "wave",
        "iot",
        "analytics",
        "search",
        "identity",
        "composite",
        "parameterizedSearch",
        "fingerprint",
        "theme",
        "nouns",
        "domino",
        "event",
        "serviceTemplates",
        "recent",
        "connect",
        "licensing",
        "limits",
        "process",
        "dedupe",
        "async-queries",
        "query",
        "jobs",
        "match",
        "localizedvalue",
        "mobile",
        "emailConnect",
        "consent",
        "tokenizer",
        "compactLayouts",
        "knowledgeManagement",
        "sobjects",
        "actions",
        "support",
        "uiapi",
    ]
    out = {n: f"{p}/{n}" for n in names}
    out["identity"] = f"{call.base}/id/{call.rt.config.org_id}/{call.session.user.id}"
    return json_response(out)


def limits(call: Call) -> Response:
    f = call.rt.config.faults
    used = call.rt.usage.used
    jobs = call.rt.ingest.count() if hasattr(call.rt, "ingest") else 0

    def lim(mx: int, remaining: int) -> dict[str, int]:
        return {"Max": mx, "Remaining": max(0, remaining)}

    return json_response(
        {
            "ConcurrentAsyncGetReportInstances": lim(200, 200),
            "ConcurrentSyncReportRuns": lim(20, 20),
            "DailyApiRequests": lim(f.daily_api_quota, f.daily_api_quota - used),
            "DailyAsyncApexExecutions": lim(250000, 250000),
            "DailyBulkApiBatches": lim(15000, 15000 - jobs),
            "DailyBulkV2QueryFileStorageMB": lim(976562, 976562),
            "DailyBulkV2QueryJobs": lim(
                10000, 10000 - (call.rt.query_jobs.count() if hasattr(call.rt, "query_jobs") else 0)
            ),
            "DailyStreamingApiEvents": lim(10000, 10000),
            "DataStorageMB": lim(5, 5),
            "FileStorageMB": lim(20, 20),
            "HourlyODataCallout": lim(1000, 1000),
            "SingleEmailMessages": lim(15, 15),
            "MassEmail": lim(10, 10),
        }
    )


def _object(call: Call, name: str) -> SObjectDef:
    obj = call.rt.config.object(name)
    if obj is None:
        raise OrgError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
    return obj


def describe_global(call: Call) -> Response:
    return json_response(describe.describe_global(call.rt.config, call.version))


def describe_object(call: Call) -> Response:
    obj = _object(call, call.param("obj"))
    return json_response(describe.describe_sobject(call.rt.config, obj.name, call.version))


def sobject_root(call: Call) -> Response:
    """``GET /sobjects/Obj`` basic info; ``POST /sobjects/Obj/`` create one record."""
    obj = _object(call, call.param("obj"))
    if call.request.method == "GET":
        return json_response(describe.basic_info(call.rt.config, obj.name, call.version, []))
    record = call.json_object()
    record.pop("attributes", None)
    rules = rest_rules(call)
    result = call.rt.org.create(obj.name, [record], user_id=call.session.user.id, rules=rules)[0]
    if not result.success:
        raise _save_error(result, call, obj.name, rules)
    return json_response({"id": result.id, "success": True, "errors": []}, 201)


_NOT_FOUND_CODES = {"NOT_FOUND", "ENTITY_IS_DELETED"}


def _save_error(
    result: SaveResult, call: Call | None = None, obj: str = "", rules: WriteRules | None = None
) -> OrgError:
    """A failed single-record save as the request-level error array (a duplicate rule's refusal carries
    the rule and the matching records)."""
    err = result.errors[0] if result.errors else None
    if err is None:
        return OrgError(400, "UNKNOWN_EXCEPTION", "The record was not saved.")
    if err.detail is not None and call is not None and rules is not None:
        body = duplicate_error_body(call, obj, err, rules)
        return OrgError(400, err.status_code, err.message, body=body)
    status = 404 if err.status_code in _NOT_FOUND_CODES else 400
    return OrgError(status, err.status_code, err.message, err.fields)


def sobject_row(call: Call) -> Response:
    """GET / PATCH / DELETE ``/sobjects/Obj/{id}``."""
    obj = _object(call, call.param("obj"))
    record_id = call.param("id")
    method = call.request.method
    if method == "GET":
        fields_param = call.query("fields")
        fields = [f.strip() for f in fields_param.split(",") if f.strip()] if fields_param else None
        return json_response(call.rt.org.get(obj.name, record_id, fields, call.version))
    if method == "PATCH":
        record = call.json_object()
        record.pop("attributes", None)
        record["Id"] = record_id
        rules = rest_rules(call)
        result = call.rt.org.update([record], obj=obj.name, user_id=call.session.user.id, rules=rules)[0]
        if not result.success:
            raise _save_error(result, call, obj.name, rules)
        return Response(status_code=204)
    result = call.rt.org.delete([record_id])[0]
    if not result.success:
        raise _save_error(result)
    return Response(status_code=204)


def _soql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _matching_ids(call: Call, obj: SObjectDef, field: str, value: str) -> list[str]:
    result = call.rt.org.query(
        f"SELECT Id FROM {obj.name} WHERE {field} = {_soql_literal(value)}", version=call.version
    )
    return [str(r["Id"]) for r in result.records]


def _multiple(call: Call, obj: SObjectDef, ids: list[str]) -> OrgError:
    urls = [f"{call.prefix}/sobjects/{obj.name}/{i}" for i in ids]
    return OrgError(300, "MULTIPLE_CHOICES", "More than one record matches the external id", body=urls)


def sobject_by_external_id(call: Call) -> Response:
    """PATCH (upsert), GET, DELETE ``/sobjects/Obj/{ExtField}/{value}``."""
    obj = _object(call, call.param("obj"))
    field_name = call.param("field")
    value = call.param("value")
    fdef = obj.field(field_name)
    if fdef is None or not (fdef.external_id or fdef.id_lookup or fdef.name == "Id"):
        raise OrgError(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}"
        )
    method = call.request.method
    if method == "PATCH":
        record = call.json_object()
        record.pop("attributes", None)
        for key in record:
            if key.lower() in ("id", fdef.name.lower()):
                raise OrgError(
                    400,
                    "INVALID_FIELD",
                    f"The field '{key}' can not be specified in the body because it is specified in the URL",
                    [key],
                )
        record[fdef.name] = value
        rules = rest_rules(call)
        result = call.rt.org.upsert(obj.name, fdef.name, [record], user_id=call.session.user.id, rules=rules)[
            0
        ]
        if not result.success:
            if result.errors and result.errors[0].status_code == "DUPLICATE_EXTERNAL_ID":
                ids = _matching_ids(call, obj, fdef.name, value)
                if len(ids) > 1:
                    raise _multiple(call, obj, ids)
            raise _save_error(result, call, obj.name, rules)
        status = 201 if result.created else 200
        return json_response(
            {"id": result.id, "success": True, "errors": [], "created": bool(result.created)}, status
        )
    ids = _matching_ids(call, obj, fdef.name, value)
    if not ids:
        raise OrgError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
    if len(ids) > 1:
        raise _multiple(call, obj, ids)
    if method == "GET":
        fields_param = call.query("fields")
        fields = [f.strip() for f in fields_param.split(",") if f.strip()] if fields_param else None
        return json_response(call.rt.org.get(obj.name, ids[0], fields, call.version))
    deleted = call.rt.org.delete(ids)[0]
    if not deleted.success:
        raise _save_error(deleted)
    return Response(status_code=204)


# ---- query ---------------------------------------------------------------------------------------


@dataclass
class Cursor:
    """The rest of one query's records, read lazily from the engine's iterator, page by page.

    The page last served is kept, so a client retrying the same ``nextRecordsUrl`` gets it again.
    """

    records: Iterator[dict[str, Any]]
    total: int
    position: int  # records taken from ``records`` so far
    last_start: int = -1
    last_page: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _take(
    records: Iterator[dict[str, Any]], size: int
) -> tuple[list[dict[str, Any]], Iterator[dict[str, Any]] | None]:
    """Up to ``size`` records, and the iterator of the rest (None when nothing is left)."""
    page = list(itertools.islice(records, size))
    nxt = next(records, None)
    return page, (None if nxt is None else itertools.chain([nxt], records))


class QueryCursors:
    """Open query locators, least recently used dropped beyond :data:`MAX_OPEN_CURSORS`. Thread-safe."""

    def __init__(self) -> None:
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._ids = IdFactory("01g")
        self._lock = threading.Lock()

    def open(self, cursor: Cursor) -> str:
        locator = self._ids.next()
        with self._lock:
            self._cursors[locator] = cursor
            while len(self._cursors) > MAX_OPEN_CURSORS:
                self._cursors.popitem(last=False)
        return locator

    def get(self, locator: str) -> Cursor | None:
        with self._lock:
            cursor = self._cursors.get(locator)
            if cursor is not None:
                self._cursors.move_to_end(locator)
            return cursor

    def clear(self) -> None:
        with self._lock:
            self._cursors.clear()


def batch_size(call: Call) -> int:
    options = call.request.headers.get("sforce-query-options", "")
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(MIN_QUERY_BATCH, min(MAX_QUERY_BATCH, int(value.strip())))
    return DEFAULT_QUERY_BATCH


def _page(
    call: Call, locator: str | None, records: list[dict[str, Any]], total: int, next_at: int | None
) -> Response:
    body: dict[str, Any] = {"totalSize": total, "done": next_at is None}
    if locator is not None and next_at is not None:
        body["nextRecordsUrl"] = f"{call.prefix}/query/{locator}-{next_at}"
    body["records"] = records
    return json_response(body)


def _columns(call: Call, result: QueryResult) -> Response:
    obj = call.rt.config.object(result.object)
    return json_response(
        {
            "columnMetadata": describe.column_metadata(result.columns),
            "entityName": obj.name if obj else result.object,
            "groupBy": False,
            "idSelected": any(c.path.lower() == "id" for c in result.columns),
            "keyPrefix": obj.key_prefix if obj else None,
        }
    )


def run_query(call: Call, include_deleted: bool) -> Response:
    soql = call.query("q")
    if not soql:
        raise OrgError(400, "MALFORMED_QUERY", "A query string has to be specified (parameter q)")
    result = call.rt.org.query(soql, include_deleted=include_deleted, version=call.version)
    if (call.query("columns") or "").lower() == "true":
        return _columns(call, result)
    if result.is_count:
        return json_response({"totalSize": result.total_size, "done": True, "records": []})
    page, rest = _take(result.records, batch_size(call))
    if rest is None:
        return _page(call, None, page, result.total_size, None)
    cursor = Cursor(rest, result.total_size, len(page))
    return _page(call, call.rt.cursors.open(cursor), page, result.total_size, len(page))


def query(call: Call) -> Response:
    return run_query(call, include_deleted=False)


def query_all(call: Call) -> Response:
    return run_query(call, include_deleted=True)


def query_more(call: Call) -> Response:
    locator, _, offset_text = call.param("locator").partition("-")
    cursor = call.rt.cursors.get(locator)
    offset = int(offset_text) if offset_text.isdigit() else -1
    if cursor is None:
        raise OrgError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    with cursor.lock:
        if offset == cursor.last_start:
            page = cursor.last_page  # a retried request: the same page again
        elif offset == cursor.position:
            page, rest = _take(cursor.records, batch_size(call))
            cursor.records = rest if rest is not None else iter(())
            cursor.last_start, cursor.last_page = offset, page
            cursor.position += len(page)
        else:
            raise OrgError(
                400,
                "INVALID_QUERY_LOCATOR",
                f"invalid query locator: records are served in order; next is {cursor.position}",
            )
        end = offset + len(page)
        more = end < cursor.position or (end == cursor.position and not _exhausted(cursor))
    return _page(call, locator, page, cursor.total, end if more else None)


def _exhausted(cursor: Cursor) -> bool:
    nxt = next(cursor.records, None)
    if nxt is None:
        return True
    cursor.records = itertools.chain([nxt], cursor.records)
    return False


def routes() -> list[Route]:
    v = "/services/data/{version}"
    return [
        *slashed("/services/data", versions_endpoint, ["GET"]),
        *slashed(f"{v}", api(resources), ["GET"]),
        *slashed(f"{v}/limits", api(limits), ["GET"]),
        *slashed(f"{v}/sobjects", api(describe_global), ["GET"]),
        *slashed(f"{v}/sobjects/{{obj}}", api(sobject_root), ["GET", "POST"]),
        *slashed(f"{v}/sobjects/{{obj}}/describe", api(describe_object), ["GET"]),
        Route(f"{v}/sobjects/{{obj}}/{{id}}", api(sobject_row), methods=["GET", "PATCH", "DELETE"]),
        Route(
            f"{v}/sobjects/{{obj}}/{{field}}/{{value}}",
            api(sobject_by_external_id),
            methods=["GET", "PATCH", "DELETE"],
        ),
        *slashed(f"{v}/query", api(query), ["GET"]),
        Route(f"{v}/query/{{locator}}", api(query_more), methods=["GET"]),
        *slashed(f"{v}/queryAll", api(query_all), ["GET"]),
        Route(f"{v}/queryAll/{{locator}}", api(query_more), methods=["GET"]),
    ]


__all__ = ["MAX_VERSION", "QueryCursors", "Runtime", "routes"]
