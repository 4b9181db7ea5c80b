"""Describe, query and sObject Collections against the emulator; retries under faults; the quota stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sfsync.errors import LimitError, SalesforceConfigError
from sfsync.salesforce import BulkJob, IngestSpec, RecordResult, SalesforceClient
from tests.salesforce.conftest import ClientFactory, password_settings


def contacts(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"LastName": f"Name{i}", "External_Id__c": f"ext-{i}"} for i in range(start, start + n)]


def test_describe_is_typed_and_cached(sf: SalesforceClient) -> None:
    names = sf.describe_global().names
    assert {"Account", "Contact", "Lead", "Case", "Contract"} <= set(names)
    contact = sf.describe("contact")  # API names are case-insensitive
    calls = sf.stats.calls
    assert sf.describe("Contact") is contact and sf.stats.calls == calls
    ext = contact.field("external_id__c")
    assert ext is not None and ext.external_id and ext.type == "string"
    last_name = contact.field("LastName")
    assert last_name is not None and last_name.required_on_create
    email = contact.field("Email")
    assert email is not None and email.type == "email" and email.createable and email.updateable


def test_describe_of_an_unknown_object_says_how_to_fix(sf: SalesforceClient) -> None:
    with pytest.raises(SalesforceConfigError) as info:
        sf.describe("Contactt")
    assert info.value.object == "Contactt" and "__c" in (info.value.hint or "")


def test_query_is_lazy_and_follows_every_page(make_client: ClientFactory) -> None:
    sf = make_client(query_batch_size=200)
    results = sf.create("Contact", contacts(450))
    assert all(r.success for r in results)
    calls = sf.stats.calls
    records = sf.query("SELECT Id, LastName FROM Contact ORDER BY LastName")
    assert sf.stats.calls == calls  # nothing sent yet
    rows = list(records)
    assert len(rows) == 450 and {r["LastName"] for r in rows} == {f"Name{i}" for i in range(450)}
    assert sf.stats.calls == calls + 3  # 200 + 200 + 50
    assert sf.count("SELECT COUNT() FROM Contact WHERE LastName LIKE 'Name1%'") == 111


def test_query_errors_are_configuration_errors(sf: SalesforceClient) -> None:
    with pytest.raises(SalesforceConfigError) as info:
        list(sf.query("SELECT Nope__c FROM Contact"))
    assert info.value.code == "INVALID_FIELD" and "Nope__c" in str(info.value)
    with pytest.raises(SalesforceConfigError) as info:
        list(sf.query("SELECT Id FROM Nothing__c"))
    assert info.value.code == "INVALID_TYPE"


def test_collections_mixed_success_and_failure_in_input_order(sf: SalesforceClient) -> None:
    records = contacts(430)
    for i in (3, 250, 429):
        del records[i]["LastName"]  # required field missing
    records[100]["Email"] = "not-an-email"  # invalid email
    seen: list[int] = []
    results = sf.create("Contact", records, on_chunk=lambda chunk: seen.extend(r.index for r in chunk))
    assert [r.index for r in results] == list(range(430)) and sorted(seen) == list(range(430))
    failed = {r.index: r for r in results if not r.success}
    assert set(failed) == {3, 100, 250, 429}
    assert failed[3].error_codes == ("REQUIRED_FIELD_MISSING",) and failed[3].id is None
    assert failed[100].error_codes == ("INVALID_EMAIL_ADDRESS",)
    assert all(r.id and r.id.startswith("003") for r in results if r.success)
    assert sf.count("SELECT COUNT() FROM Contact") == 426


def test_update_upsert_delete(sf: SalesforceClient) -> None:
    created = sf.create("Contact", contacts(3))
    ids = [r.id or "" for r in created]
    updated = sf.update(
        "Contact", [{"Id": ids[0], "Title": "CEO"}, {"Id": "003000000000000AAA", "Title": "x"}]
    )
    assert updated[0].success and not updated[1].success
    upserted = sf.upsert(
        "Contact",
        "External_Id__c",
        [
            {"External_Id__c": "ext-1", "Title": "CTO"},
            {"External_Id__c": "ext-99", "LastName": "New"},
        ],
    )
    assert [(r.success, r.created) for r in upserted] == [(True, False), (True, True)]
    titles = {r["LastName"]: r["Title"] for r in sf.query("SELECT LastName, Title FROM Contact")}
    assert titles == {"Name0": "CEO", "Name1": "CTO", "Name2": None, "New": None}
    deleted = sf.delete([ids[2], ids[2]])
    assert deleted[0].success and not deleted[1].success
    assert sf.count("SELECT COUNT() FROM Contact") == 3


def test_all_or_none_rolls_back_everything(sf: SalesforceClient) -> None:
    records = contacts(3)
    del records[1]["LastName"]
    results = sf.create("Contact", records, all_or_none=True)
    assert not any(r.success for r in results)
    assert results[0].error_codes == ("ALL_OR_NONE_OPERATION_ROLLED_BACK",)
    assert sf.count("SELECT COUNT() FROM Contact") == 0


def test_lock_faults_are_retried_record_by_record(make_client: ClientFactory, emulator: Any) -> None:
    emulator.set_faults(lock_row_rate=0.3, seed=11)
    sf = make_client(max_retries=15)  # a record failing 16 times in a row: 0.3**16, about 4e-9
    results: list[RecordResult] = sf.create("Contact", contacts(300))
    assert all(r.success for r in results)
    assert sf.stats.record_retries > 0
    assert max(r.attempts for r in results) > 1
    assert sf.count("SELECT COUNT() FROM Contact") == 300  # retried records were not written twice


def test_lock_faults_past_the_retry_limit_are_rejected_rows(
    make_client: ClientFactory, emulator: Any
) -> None:
    emulator.set_faults(lock_row_rate=1.0, seed=5)
    sf = make_client(max_retries=2)
    results = sf.create("Contact", contacts(5))
    assert all(r.error_codes == ("UNABLE_TO_LOCK_ROW",) and r.retryable and r.attempts == 3 for r in results)
    emulator.set_faults(lock_row_rate=0.0)
    assert sf.count("SELECT COUNT() FROM Contact") == 0


def test_503_faults_are_retried_until_success(make_client: ClientFactory, emulator: Any) -> None:
    emulator.set_faults(unavailable_rate=0.4, seed=3)
    sf = make_client(max_retries=20)  # a call failing 21 times in a row: 0.4**21, about 4e-9
    results = sf.create("Contact", contacts(600))
    assert all(r.success for r in results)
    assert len(list(sf.query("SELECT Id FROM Contact"))) == 600
    assert sf.stats.retries > 0


def test_503_past_the_retry_limit_fails_the_chunk_only(make_client: ClientFactory, emulator: Any) -> None:
    sf = make_client(max_retries=1)
    sf.authenticate()
    emulator.set_faults(unavailable_rate=1.0)
    results = sf.create("Contact", contacts(3))
    assert all(r.error_codes == ("SERVER_UNAVAILABLE",) for r in results)
    assert sf.stats.retries == 1


def test_quota_exhaustion_stops_all_further_calls(make_client: ClientFactory, emulator: Any) -> None:
    sf = make_client(stop_at_api_usage_percent=None)
    sf.authenticate()
    emulator.set_faults(daily_api_quota=emulator.usage() + 3)
    for _ in range(3):
        sf.describe_global()
        sf.invalidate_describe()
    with pytest.raises(LimitError) as info:
        sf.describe_global()
    assert info.value.code == "REQUEST_LIMIT_EXCEEDED" and "quota" in (info.value.hint or "")
    assert sf.quota_exhausted
    refused = emulator.runtime.usage.refused
    calls = sf.stats.calls
    actions: list[Callable[[], object]] = [
        sf.describe_global,
        lambda: sf.create("Contact", contacts(1)),
        lambda: list(sf.query("SELECT Id FROM Contact")),
    ]
    for action in actions:
        with pytest.raises(LimitError, match="not sent"):
            action()
    assert emulator.runtime.usage.refused == refused and sf.stats.calls == calls  # nothing reached the org


def test_usage_share_stops_new_work_before_the_quota(make_client: ClientFactory, emulator: Any) -> None:
    sf = make_client(stop_at_api_usage_percent=50)
    sf.authenticate()
    emulator.set_faults(daily_api_quota=emulator.usage() * 2 + 4)
    with pytest.raises(LimitError) as info:
        for _ in range(50):
            sf.describe_global()
            sf.invalidate_describe()
    assert info.value.code == "API_USAGE_THRESHOLD"
    usage = sf.api_usage
    assert usage is not None and usage.percent >= 50 and usage.max == emulator.config.faults.daily_api_quota
    used = emulator.usage()
    with pytest.raises(LimitError):
        sf.describe("Account")
    assert emulator.usage() == used


class ResetAfterSending(httpx.BaseTransport):
    """The emulator behind a flaky network: the first ``n`` requests matching ``method`` reach the org, then
    the connection drops before the answer arrives."""

    def __init__(self, inner: httpx.BaseTransport, method: str, n: int) -> None:
        self.inner, self.method, self.left = inner, method, n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == self.method and "/services/oauth2/" not in str(request.url) and self.left > 0:
            self.left -= 1
            raise httpx.ReadError("Connection reset by peer", request=request)
        return response


def test_connection_resets_are_retried_for_idempotent_calls(emulator: Any) -> None:
    flaky = ResetAfterSending(emulator.transport, "GET", 2)
    with SalesforceClient(password_settings(emulator.base_url), transport=flaky) as sf:
        assert sf.describe("Account").name == "Account"
        assert sf.stats.retries == 2


def test_a_create_that_may_have_been_written_is_not_sent_twice(emulator: Any) -> None:
    flaky = ResetAfterSending(emulator.transport, "POST", 1)
    with SalesforceClient(password_settings(emulator.base_url), transport=flaky) as sf:
        results = sf.create("Contact", contacts(3))
        assert all(r.error_codes == ("CONNECTION_ERROR",) for r in results)
        assert "could write twice" in results[0].errors[0].message
        assert sf.stats.retries == 0
        assert sf.count("SELECT COUNT() FROM Contact") == 3  # written once, by the one request that went out


class CountInFlight(httpx.BaseTransport):
    """Observes how many requests are in flight at once (no timing involved)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.now, self.most = inner, 0, 0
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return self.inner.handle_request(request)
        finally:
            with self.lock:
                self.now -= 1


def test_parallel_chunks_and_jobs_stay_within_max_concurrency(emulator: Any) -> None:
    counter = CountInFlight(emulator.transport)
    settings = password_settings(emulator.base_url, max_concurrency=2, collection_chunk_size=50)
    with SalesforceClient(settings, transport=counter) as sf:
        assert all(r.success for r in sf.create("Contact", contacts(500)))
        specs = [IngestSpec("Contact", "insert", f"LastName\nBulk{i}\n".encode()) for i in range(6)]
        assert all(isinstance(j, BulkJob) and j.succeeded for j in sf.bulk.run_many(specs))
    assert counter.most <= 2, counter.most
    assert sf.stats.calls >= 10 + 6 * 4


def test_quota_stop_mid_call_reports_every_written_record(make_client: ClientFactory, emulator: Any) -> None:
    sf = make_client(max_concurrency=1, collection_chunk_size=10, stop_at_api_usage_percent=None)
    sf.authenticate()
    emulator.set_faults(daily_api_quota=emulator.usage() + 2)
    reported: list[RecordResult] = []
    with pytest.raises(LimitError):
        sf.create("Contact", contacts(50), on_chunk=reported.extend)
    assert len(reported) == 20 and all(r.success for r in reported)
    emulator.set_faults(daily_api_quota=100_000)
    written = {r["Id"] for r in make_client().query("SELECT Id FROM Contact")}
    assert written == {r.id for r in reported}


def test_quota_stop_during_lock_retries_keeps_the_records_already_written(
    make_client: ClientFactory, emulator: Any
) -> None:
    sf = make_client(stop_at_api_usage_percent=None)
    sf.authenticate()
    emulator.set_faults(daily_api_quota=emulator.usage() + 1, lock_row_rate=0.5, seed=8)
    reported: list[RecordResult] = []
    with pytest.raises(LimitError):
        sf.create("Contact", contacts(20), on_chunk=reported.extend)
    assert len(reported) == 20
    ok = [r for r in reported if r.success]
    cut_short = [r for r in reported if not r.success]
    assert ok and cut_short
    assert all(r.error_codes == ("REQUEST_LIMIT_EXCEEDED",) and r.attempts == 2 for r in cut_short)
    emulator.set_faults(daily_api_quota=100_000, lock_row_rate=0.0)
    written = {r["Id"] for r in make_client().query("SELECT Id FROM Contact")}
    assert written == {r.id for r in ok}


def test_query_all_includes_deleted_records(sf: SalesforceClient) -> None:
    ids = [
        r.id or "" for r in sf.create("Lead", [{"LastName": f"L{i}", "Company": "Acme"} for i in range(3)])
    ]
    assert all(r.success for r in sf.delete(ids[:1]))
    assert len(list(sf.query("SELECT Id FROM Lead"))) == 2
    everything = {r["Id"]: r["IsDeleted"] for r in sf.query_all("SELECT Id, IsDeleted FROM Lead")}
    assert everything == {ids[0]: True, ids[1]: False, ids[2]: False}


def test_after_the_quota_pause_the_client_tries_again(make_client: ClientFactory, emulator: Any) -> None:
    sf = make_client(stop_at_api_usage_percent=None, quota_recheck_seconds=0.2)
    sf.authenticate()
    emulator.set_faults(daily_api_quota=emulator.usage() + 1)
    sf.describe_global()
    with pytest.raises(LimitError):
        sf.create("Contact", contacts(1))
    with pytest.raises(LimitError, match="not sent"):
        sf.create("Contact", contacts(1))
    emulator.set_faults(daily_api_quota=15000)  # the quota rolled over
    time.sleep(0.3)
    assert not sf.quota_exhausted
    assert [r.success for r in sf.create("Contact", contacts(1))] == [True]
