"""Numbers the way a real org takes them through the API: every decimal kept (no rounding to the field's
scale; Salesforce Help knowledge articles 000212661 and 000387302), the whole part bounded by
``precision - scale``, and no NaN or Infinity (not JSON; not a number a field can hold)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sfsync.emulator.metadata.fieldkit import fld
from sfsync.emulator.metadata.model import OrgConfig
from tests.emulator.test_http_bulk import rows, run_job
from tests.plugins.emulator import InProcessEmulator

V = "/services/data/v59.0"


@pytest.fixture
def org_config(org_config: OrgConfig) -> OrgConfig:
    account = org_config.objects["Account"]
    account.fields["Score__c"] = fld("Score__c", "double", (5, 2))
    return org_config


@pytest.fixture
def sf(emulator: InProcessEmulator) -> httpx.Client:
    return emulator.client()


def scores(sf: httpx.Client) -> list[Any]:
    q = "SELECT Score__c FROM Account ORDER BY Name"
    return [r["Score__c"] for r in sf.get(f"{V}/query", params={"q": q}).json()["records"]]


def test_rest_and_bulk_keep_every_decimal_sent(sf: httpx.Client) -> None:
    body = {"records": [{"attributes": {"type": "Account"}, "Name": "A", "Score__c": 12.3456}]}
    assert sf.post(f"{V}/composite/sobjects", json=body).json()[0]["success"]
    run_job(sf, {"object": "Account", "operation": "insert"}, "Name,Score__c\nB,0.125\n")
    assert scores(sf) == [12.3456, 0.125]


def test_whole_part_over_precision_minus_scale_is_refused(sf: httpx.Client) -> None:
    body = {"records": [{"attributes": {"type": "Account"}, "Name": "A", "Score__c": 1000}]}
    [res] = sf.post(f"{V}/composite/sobjects", json=body).json()
    assert res["errors"][0]["statusCode"] == "NUMBER_OUTSIDE_VALID_RANGE"


def test_nan_is_not_json_and_not_a_number_in_csv(sf: httpx.Client) -> None:
    raw = b'{"records": [{"attributes": {"type": "Account"}, "Name": "A", "Score__c": NaN}]}'
    r = sf.post(f"{V}/composite/sobjects", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    job_id, info = run_job(sf, {"object": "Account", "operation": "insert"}, "Name,Score__c\nB,NaN\nC,inf\n")
    failed = rows(sf.get(f"{V}/jobs/ingest/{job_id}/failedResults/").text)
    assert info["numberRecordsFailed"] == 2
    assert {f["sf__Error"].split(":")[0] for f in failed} == {"INVALID_TYPE_ON_FIELD_IN_RECORD"}
