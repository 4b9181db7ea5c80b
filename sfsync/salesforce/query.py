"""SOQL through REST: records of every page, fetched one page at a time as the caller iterates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sfsync.salesforce.transport import Transport


def iter_query(
    transport: Transport, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the records of ``soql`` (as Salesforce returns them, ``attributes`` included), page by page.

    Nothing is sent until the first record is asked for. ``include_deleted`` uses ``queryAll`` (deleted and
    archived records too). Following ``nextRecordsUrl`` continues started work, so it is not refused by
    ``stop_at_api_usage_percent`` (an exhausted quota still stops it).
    """
    resource = "queryAll" if include_deleted else "query"
    size = batch_size or transport.settings.query_batch_size
    headers = {"Sforce-Query-Options": f"batchSize={size}"} if size else None
    body = transport.request(
        "GET", resource, params={"q": soql}, headers=headers, what=f"SOQL {resource}"
    ).json()
    while True:
        yield from body.get("records", ())
        next_url = body.get("nextRecordsUrl")
        if body.get("done", True) or not next_url:
            return
        body = transport.request(
            "GET", next_url, headers=headers, new_work=False, what=f"SOQL {resource} (next page)"
        ).json()


def count(transport: Transport, soql: str) -> int:
    """``totalSize`` of a query, e.g. ``SELECT COUNT() FROM Contact WHERE ...``."""
    body = transport.request("GET", "query", params={"q": soql}, what="SOQL count").json()
    return int(body.get("totalSize", 0))


__all__ = ["count", "iter_query"]
