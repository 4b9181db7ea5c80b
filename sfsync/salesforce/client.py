"""The facade the rest of sfsync uses: one :class:`SalesforceClient` per org connection.

    with SalesforceClient(settings) as sf:
        sf.describe("Contact").field("Email")
        for rec in sf.query("SELECT Id, Email FROM Contact"): ...
        results = sf.upsert("Contact", "External_Id__c", rows)        # list[RecordResult], input order
        job = sf.bulk.run("Contact", "upsert", csv_bytes, external_id_field="External_Id__c")
        failed = sf.bulk.results(job.id, "failed")                     # pyarrow.Table

Thread-safe: share one client between threads. Chunks of collections calls and several Bulk jobs run on a
pool of ``max_concurrency`` threads owned by the client.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from types import TracebackType
from typing import Any

import httpx

from sfsync.errors import ConfigError
from sfsync.salesforce import automation as _automation
from sfsync.salesforce import query as _query
from sfsync.salesforce.auth import Session
from sfsync.salesforce.automation import RuleInfo, SaveOptions
from sfsync.salesforce.bulk import BulkIngest, BulkQuery
from sfsync.salesforce.collections import ChunkCallback, Collections
from sfsync.salesforce.describe import DescribeCache, GlobalDescribe, ObjectDescribe
from sfsync.salesforce.guarded import GuardedCollections, GuardedTransport
from sfsync.salesforce.results import RecordResult
from sfsync.salesforce.settings import ConnectionSettings
from sfsync.salesforce.tokens import RefreshTokenStore
from sfsync.salesforce.transport import ApiUsage, ClientStats, Transport


class SalesforceClient:
    """Everything sfsync does with one org: auth, describe, query, collections, Bulk API 2.0."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        token_store: RefreshTokenStore | None = None,
    ) -> None:
        """``transport`` replaces the network (e.g. the emulator in-process); ``rng``/``sleep`` make the
        backoff schedule reproducible in tests; ``token_store`` keeps the newest refresh token of the
        refresh_token flow across runs and processes (see ``sfsync.salesforce.tokens``)."""
        problems = settings.problems()
        if problems:
            raise ConfigError(
                f"the Salesforce connection settings are incomplete: {'; '.join(problems)}",
                problems=problems,
                hint="fill in the destination's auth block for the chosen flow",
            )
        self.settings = settings
        self.transport = Transport(
            settings, transport=transport, rng=rng, sleep=sleep, token_store=token_store
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._describe = DescribeCache(self.transport)
        self._collections = Collections(self.transport, self._executor)
        self.bulk = BulkIngest(self.transport, self._executor)
        self.bulk_query = BulkQuery(self.transport, self._executor)

    def __repr__(self) -> str:
        return (
            f"SalesforceClient(login_url={self.settings.login_url!r}, flow={self.settings.flow!r}, "
            f"api_version={self.settings.api_version!r})"
        )

    # ---- lifecycle ----------------------------------------------------------------------------------
    def _executor(self) -> Executor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.max_concurrency, thread_name_prefix="sfsync-sf"
                )
            return self._pool

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        self.transport.close()

    def __enter__(self) -> SalesforceClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def guarded(self, check: Callable[[], None]) -> SalesforceClient:
        """A view of this client whose every call first runs ``check`` (it raises to stop the call before
        it is sent: see ``sfsync.salesforce.guarded``). The view shares this client's session, pool,
        describe cache and counters; closing it closes nothing."""
        return _GuardedClient(self, check)

    # ---- session, usage -----------------------------------------------------------------------------
    def authenticate(self) -> Session:
        """Log in now (otherwise the first call does); returns the session (its token hidden from repr)."""
        return self.transport.session()

    @property
    def instance_url(self) -> str:
        return self.transport.session().instance_url

    @property
    def api_usage(self) -> ApiUsage | None:
        """The org's daily API usage from the last ``Sforce-Limit-Info`` header, None before any call."""
        return self.transport.api_usage

    @property
    def stats(self) -> ClientStats:
        """Calls made, retries, re-authentications and per-record lock retries so far."""
        return self.transport.counters.snapshot()

    @property
    def quota_exhausted(self) -> bool:
        """True once Salesforce answered REQUEST_LIMIT_EXCEEDED: every further call raises LimitError."""
        return self.transport.quota_exhausted

    def limits(self) -> dict[str, Any]:
        """``GET /limits``: DailyApiRequests, DailyBulkApiBatches, … as Salesforce reports them."""
        result: dict[str, Any] = self.transport.request("GET", "limits/", what="read org limits").json()
        return result

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any other REST call, with the same auth, retries and limits (see ``Transport.request``)."""
        return self.transport.request(method, path, **kwargs)

    # ---- describe -----------------------------------------------------------------------------------
    def describe_global(self) -> GlobalDescribe:
        return self._describe.describe_global()

    def describe(self, object_name: str) -> ObjectDescribe:
        """Describe of one object, fetched once per client; unknown object → SalesforceConfigError."""
        return self._describe.describe(object_name)

    def invalidate_describe(self, object_name: str | None = None) -> None:
        self._describe.invalidate(object_name)

    # ---- query --------------------------------------------------------------------------------------
    def query(self, soql: str, *, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Records of ``soql`` over all pages, lazily (nothing is sent before the first ``next``)."""
        return _query.iter_query(self.transport, soql, batch_size=batch_size)

    def query_all(self, soql: str, *, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Like :meth:`query`, deleted and archived records included (``queryAll``)."""
        return _query.iter_query(self.transport, soql, include_deleted=True, batch_size=batch_size)

    def count(self, soql: str) -> int:
        """``totalSize`` of a query such as ``SELECT COUNT() FROM Lead``."""
        return _query.count(self.transport, soql)

    # ---- sObject Collections -------------------------------------------------------------------------
    def create(
        self,
        object_name: str,
        records: Sequence[Mapping[str, Any]],
        *,
        all_or_none: bool = False,
        on_chunk: ChunkCallback | None = None,
        options: SaveOptions | None = None,
    ) -> list[RecordResult]:
        """``options``: what the org's assignment and duplicate rules do (None: the org's defaults)."""
        return self._collections.save(
            "create",
            object_name,
            records,
            all_or_none=all_or_none,
            on_chunk=on_chunk,
            headers=_headers(options),
        )

    def update(
        self,
        object_name: str,
        records: Sequence[Mapping[str, Any]],
        *,
        all_or_none: bool = False,
        on_chunk: ChunkCallback | None = None,
        options: SaveOptions | None = None,
    ) -> list[RecordResult]:
        """Each record carries its ``Id``."""
        return self._collections.save(
            "update",
            object_name,
            records,
            all_or_none=all_or_none,
            on_chunk=on_chunk,
            headers=_headers(options),
        )

    def upsert(
        self,
        object_name: str,
        external_id_field: str,
        records: Sequence[Mapping[str, Any]],
        *,
        all_or_none: bool = False,
        on_chunk: ChunkCallback | None = None,
        options: SaveOptions | None = None,
    ) -> list[RecordResult]:
        """Each record carries ``external_id_field``; ``created`` tells inserts from updates."""
        return self._collections.save(
            "upsert",
            object_name,
            records,
            external_id_field=external_id_field,
            all_or_none=all_or_none,
            on_chunk=on_chunk,
            headers=_headers(options),
        )

    def delete(
        self, ids: Sequence[str], *, all_or_none: bool = False, on_chunk: ChunkCallback | None = None
    ) -> list[RecordResult]:
        return self._collections.save("delete", None, ids, all_or_none=all_or_none, on_chunk=on_chunk)

    # ---- the org's automation -------------------------------------------------------------------
    def active_assignment_rule(self, object_name: str) -> RuleInfo | None:
        """The active AssignmentRule of a Case or Lead (None: none, or another object)."""
        return _automation.active_assignment_rule(self.transport, object_name)

    def active_duplicate_rules(self, object_name: str) -> list[RuleInfo]:
        """The active duplicate rules of an object (a SOQL query on DuplicateRule)."""
        return _automation.active_duplicate_rules(self.transport, object_name)


class _GuardedClient(SalesforceClient):
    """What :meth:`SalesforceClient.guarded` returns."""

    def __init__(self, inner: SalesforceClient, check: Callable[[], None]) -> None:  # a view: no super()
        self.settings = inner.settings
        self.transport = GuardedTransport(inner.transport, check)
        self._inner = inner
        self._describe = inner._describe  # describe answers are shared (reads of metadata)
        self._collections = GuardedCollections(self.transport, inner._executor)
        self.bulk = BulkIngest(self.transport, inner._executor)
        self.bulk_query = BulkQuery(self.transport, inner._executor)

    def _executor(self) -> Executor:
        return self._inner._executor()

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"guarded {self._inner!r}"


def _headers(options: SaveOptions | None) -> dict[str, str] | None:
    return options.rest_headers() if options is not None else None


__all__ = ["SalesforceClient"]
