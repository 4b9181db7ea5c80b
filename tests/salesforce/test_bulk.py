"""Bulk API 2.0 ingest and query jobs against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sfsync.errors import SalesforceConfigError, SalesforceError
from sfsync.salesforce import BulkJob, IngestSpec, SalesforceClient, parse_bulk_error
from tests.salesforce.conftest import ClientFactory, password_settings


def csv_rows(n: int, start: int = 0, *, bad: tuple[int, ...] = ()) -> bytes:
    lines = ["LastName,External_Id__c,Title"]
    for i in range(start, start + n):
        last = "" if i in bad else f"Lee{i}"
        lines.append(f'{last},ext-{i}," Title, with comma {i} "')
    return ("\n".join(lines) + "\n").encode()


def test_ingest_with_failed_rows(sf: SalesforceClient) -> None:
    created: list[BulkJob] = []
    job = sf.bulk.run("Contact", "insert", csv_rows(20, bad=(4, 17)), on_created=created.append)
    assert created and created[0].id == job.id and created[0].state == "Open"
    assert job.id.startswith("750") and job.state == "JobComplete"
    assert (job.records_processed, job.records_failed) == (20, 2)

    ok = sf.bulk.results(job.id, "successful")
    assert ok.num_rows == 18 and ok.column_names[:2] == ["sf__Id", "sf__Created"]
    assert set(ok.column("Title").to_pylist()) == {
        f" Title, with comma {i} " for i in range(20) if i not in (4, 17)
    }
    assert all(v.startswith("003") for v in ok.column("sf__Id").to_pylist())

    failed = sf.bulk.results(job.id, "failed")
    assert failed.column_names[:2] == ["sf__Id", "sf__Error"]
    assert sorted(failed.column("External_Id__c").to_pylist()) == ["ext-17", "ext-4"]
    assert failed.column("LastName").to_pylist() == ["", ""]  # empty stays empty, not null
    assert {parse_bulk_error(e).status_code for e in failed.column("sf__Error").to_pylist()} == {
        "REQUIRED_FIELD_MISSING"
    }
    assert sf.bulk.results(job.id, "unprocessed").num_rows == 0

    with sf.bulk.open_results(job.id, "failed") as chunks:
        raw = b"".join(chunks)
    assert raw.startswith(b'"sf__Id","sf__Error"') or raw.startswith(b"sf__Id,sf__Error")
    assert sf.count("SELECT COUNT() FROM Contact") == 18


def test_upsert_job_and_job_listing_and_delete(sf: SalesforceClient) -> None:
    first = sf.bulk.run("Contact", "upsert", csv_rows(5), external_id_field="External_Id__c")
    second = sf.bulk.run("Contact", "upsert", csv_rows(5, start=3), external_id_field="External_Id__c")
    assert first.succeeded and second.succeeded
    created = sf.bulk.results(second.id, "successful").column("sf__Created").to_pylist()
    assert sorted(created) == ["false", "false", "true", "true", "true"]
    assert sf.count("SELECT COUNT() FROM Contact") == 8
    listed = {j.id for j in sf.bulk.list()}
    assert {first.id, second.id} <= listed
    sf.bulk.delete(first.id)
    assert first.id not in {j.id for j in sf.bulk.list()}


def test_abort_an_open_job(sf: SalesforceClient) -> None:
    job = sf.bulk.create_job("Account", "insert")
    assert job.state == "Open" and job.object == "Account"
    assert sf.bulk.abort(job.id).state == "Aborted"
    assert sf.bulk.get(job.id).state == "Aborted"


def test_failed_job_is_reported_not_raised(sf: SalesforceClient, emulator: Any) -> None:
    emulator.set_faults(bulk_fail=True)
    job = sf.bulk.run("Contact", "insert", csv_rows(3))
    assert job.state == "Failed" and job.done and not job.succeeded and job.error_message


def test_uploads_over_the_limit_are_refused_before_any_call(
    sf: SalesforceClient, tmp_path: Path, emulator: Any
) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(100_000_001)  # sparse: one byte over the 100 MB raw limit
    calls = sf.stats.calls
    with pytest.raises(SalesforceConfigError) as info:
        sf.bulk.run("Contact", "insert", big)
    assert info.value.code == "BULK_UPLOAD_TOO_LARGE" and "split" in (info.value.hint or "")
    assert "100,000,001" in str(info.value)
    assert sf.stats.calls == calls


def test_unknown_object_job_is_a_configuration_error(sf: SalesforceClient) -> None:
    with pytest.raises(SalesforceError) as info:
        sf.bulk.run("Nothing__c", "insert", b"Name\nx\n")
    assert info.value.object == "Nothing__c"


def test_several_jobs_in_flight(make_client: ClientFactory, emulator: Any) -> None:
    emulator.set_faults(bulk_delay_seconds=0.2)
    sf = make_client(max_concurrency=3)
    specs = [IngestSpec("Contact", "insert", csv_rows(10, start=i * 10)) for i in range(5)]
    specs.append(IngestSpec("Nothing__c", "insert", b"Name\nx\n"))
    ids: dict[int, str] = {}
    outcomes = sf.bulk.run_many(specs, on_created=lambda i, job: ids.__setitem__(i, job.id))
    jobs = [o for o in outcomes[:5] if isinstance(o, BulkJob)]
    assert len(jobs) == 5 and all(j.succeeded for j in jobs)
    assert isinstance(outcomes[5], SalesforceError)
    assert sorted(ids) == [0, 1, 2, 3, 4] and [ids[i] for i in range(5)] == [j.id for j in jobs]
    assert sf.count("SELECT COUNT() FROM Contact") == 50


def test_each_step_is_reported_when_its_call_has_returned(sf: SalesforceClient) -> None:
    """What a journal is told matches the job's state in the org at that moment."""
    seen: list[tuple[str, str]] = []

    def step(name: str) -> Callable[[BulkJob], None]:
        return lambda job: seen.append((name, sf.bulk.get(job.id).state))

    job = sf.bulk.run(
        "Contact",
        "insert",
        csv_rows(3),
        on_created=step("created"),
        on_uploaded=step("uploaded"),
        on_closed=step("closed"),
        wait=False,
    )
    # the org's Open state does not tell an empty job from an uploaded one: only the close moves it
    assert seen[0] == ("created", "Open") and seen[1] == ("uploaded", "Open")
    assert seen[2][0] == "closed" and seen[2][1] in ("UploadComplete", "InProgress", "JobComplete")
    assert len(seen) == 3 and job.state == "UploadComplete"
    assert sf.bulk.wait(job.id).records_processed == 3


def test_bulk_query_across_locators(make_client: ClientFactory) -> None:
    sf = make_client(bulk_query_page_records=100)
    assert sf.bulk.run("Contact", "insert", csv_rows(250)).succeeded
    table = sf.bulk_query.run("SELECT Id, LastName, Title FROM Contact")
    assert table.num_rows == 250
    assert set(table.column("LastName").to_pylist()) == {f"Lee{i}" for i in range(250)}
    assert table.column("Title").to_pylist()[0].startswith(" Title, with comma")
    job_ids = [j.id for j in sf.bulk_query.list()]
    assert len(job_ids) == 1


def test_bulk_query_with_a_bad_query(sf: SalesforceClient) -> None:
    with pytest.raises(SalesforceConfigError):
        sf.bulk_query.run("SELECT Nope__c FROM Contact")


def test_ingest_from_a_file_over_a_real_socket(live_emulator: Any, tmp_path: Path) -> None:
    csv = tmp_path / "contacts.csv"
    csv.write_bytes(csv_rows(3000))
    with SalesforceClient(password_settings(live_emulator.url)) as sf:
        job = sf.bulk.run("Contact", "insert", csv)
        assert job.succeeded and job.records_processed == 3000
        assert sf.bulk.results(job.id, "successful").num_rows == 3000
