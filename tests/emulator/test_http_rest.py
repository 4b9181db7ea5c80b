"""The emulator's REST API over HTTP (in-process transport): versions, limits, describe, rows, upsert,
query paging, and the request-level error bodies, quota and faults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.plugins.emulator import InProcessEmulator

V = "/services/data/v59.0"
JSON = "application/json;charset=UTF-8"


@pytest.fixture
def sf(emulator: InProcessEmulator) -> httpx.Client:
    return emulator.client()


def test_versions_need_no_auth_and_list_two_digit_versions(emulator: Any) -> None:
    http = httpx.Client(transport=emulator.transport, base_url=emulator.base_url)
    for path in ("/services/data", "/services/data/"):
        r = http.get(path)
        assert r.status_code == 200 and r.headers["content-type"] == JSON
        versions = [v["version"] for v in r.json()]
        assert versions[0] == "50.0" and max(versions) == "62.0" and len(versions) == 13
        assert r.json()[9] == {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"}


def test_resources_limits_and_unknown_versions(sf: httpx.Client, emulator: Any) -> None:
    r = sf.get(f"{V}/")
    assert r.status_code == 200
    assert r.json()["sobjects"] == f"{V}/sobjects" and r.json()["query"] == f"{V}/query"
    assert r.json()["identity"].endswith(f"/id/{emulator.config.org_id}/{emulator.config.users[0].id}")
    limits = sf.get(f"{V}/limits/").json()
    assert limits["DailyApiRequests"]["Max"] == 15000
    assert limits["DailyApiRequests"]["Remaining"] == 15000 - 2
    for bad in ("v49.0", "v63.0", "v59.5", "latest"):
        r = sf.get(f"/services/data/{bad}/limits")
        assert r.status_code == 404
        assert r.json() == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


def test_every_api_call_reports_usage_and_the_quota_stops_calls(sf: httpx.Client, emulator: Any) -> None:
    emulator.set_faults(daily_api_quota=3)
    seen = [sf.get(f"{V}/limits").headers["Sforce-Limit-Info"] for _ in range(3)]
    assert seen == ["api-usage=1/3", "api-usage=2/3", "api-usage=3/3"]
    r = sf.get(f"{V}/sobjects")
    assert r.status_code == 403
    assert r.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert r.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    emulator.set_faults(daily_api_quota=10)
    assert sf.get(f"{V}/limits").status_code == 200


def test_unavailable_fault_answers_503(sf: httpx.Client, emulator: Any) -> None:
    emulator.set_faults(unavailable_rate=1.0)
    r = sf.get(f"{V}/sobjects")
    assert r.status_code == 503 and r.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    emulator.set_faults(unavailable_rate=0.5, seed=7)
    codes = {sf.get(f"{V}/limits").status_code for _ in range(40)}
    assert codes == {200, 503}


def test_describe_global_object_and_basic_info(sf: httpx.Client) -> None:
    names = {o["name"] for o in sf.get(f"{V}/sobjects").json()["sobjects"]}
    assert {"Account", "Contact", "Lead", "Case", "Contract", "User", "Organization"} <= names
    d = sf.get(f"{V}/sobjects/Contact/describe").json()
    fields = {f["name"]: f for f in d["fields"]}
    assert fields["External_Id__c"]["externalId"] is True and fields["External_Id__c"]["unique"] is True
    assert fields["LastName"]["nillable"] is False
    assert sf.get(f"{V}/sobjects/contact/describe/").status_code == 200
    assert "objectDescribe" in sf.get(f"{V}/sobjects/Contact").json()
    r = sf.get(f"{V}/sobjects/Nope__c/describe")
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"


def test_create_get_update_delete(sf: httpx.Client) -> None:
    r = sf.post(f"{V}/sobjects/Account/", json={"Name": "Acme", "Website": "https://acme.test"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["success"] is True and body["errors"] == [] and body["id"].startswith("001")
    acc = body["id"]
    got = sf.get(f"{V}/sobjects/Account/{acc}").json()
    assert got["Name"] == "Acme" and got["attributes"]["type"] == "Account"
    assert got["attributes"]["url"] == f"{V}/sobjects/Account/{acc}"
    some = sf.get(f"{V}/sobjects/Account/{acc}", params={"fields": "Name"}).json()
    assert some["Name"] == "Acme" and "Website" not in some
    assert sf.patch(f"{V}/sobjects/Account/{acc}", json={"Name": "Acme 2"}).status_code == 204
    assert sf.get(f"{V}/sobjects/Account/{acc}").json()["Name"] == "Acme 2"
    assert sf.delete(f"{V}/sobjects/Account/{acc}").status_code == 204
    r = sf.get(f"{V}/sobjects/Account/{acc}")
    assert r.status_code == 404 and r.json()[0]["errorCode"] in ("NOT_FOUND", "ENTITY_IS_DELETED")


def test_create_errors_are_the_error_array(sf: httpx.Client) -> None:
    r = sf.post(f"{V}/sobjects/Contact/", json={"FirstName": "No Last Name"})
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING" and r.json()[0]["fields"] == ["LastName"]
    r = sf.post(f"{V}/sobjects/Contact/", json={"LastName": "X", "Bogus__c": 1})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
    r = sf.post(f"{V}/sobjects/Contact/", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    r = sf.patch(f"{V}/sobjects/Contact/003000000000000AAA", json={"LastName": "X"})
    assert r.status_code in (400, 404) and r.json()[0]["errorCode"] in ("NOT_FOUND", "MALFORMED_ID")


def test_upsert_by_external_id_201_200_300(sf: httpx.Client) -> None:
    url = f"{V}/sobjects/Contact/External_Id__c/ext-1"
    r = sf.patch(url, json={"LastName": "One"})
    assert r.status_code == 201
    created = r.json()
    assert created["created"] is True and created["success"] is True and created["id"].startswith("003")
    r = sf.patch(url, json={"LastName": "Uno"})
    assert r.status_code == 200
    assert r.json() == {"id": created["id"], "success": True, "errors": [], "created": False}
    assert sf.get(url).json()["LastName"] == "Uno"
    r = sf.patch(url, json={"LastName": "x", "External_Id__c": "ext-1"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
    r = sf.patch(url, json={"LastName": "x", "Id": created["id"]})
    assert r.status_code == 400
    # Email is idLookup but not unique: two matches answer 300 with the records' URLs
    for last in ("A", "B"):
        assert (
            sf.post(f"{V}/sobjects/Contact/", json={"LastName": last, "Email": "dup@example.com"}).status_code
            == 201
        )
    r = sf.patch(f"{V}/sobjects/Contact/Email/dup@example.com", json={"LastName": "C"})
    assert r.status_code == 300
    assert len(r.json()) == 2 and all(u.startswith(f"{V}/sobjects/Contact/003") for u in r.json())


def _load_contacts(sf: httpx.Client, n: int) -> None:
    for start in range(0, n, 200):
        records = [
            {"attributes": {"type": "Contact"}, "LastName": f"L{i:05d}", "External_Id__c": f"q-{i}"}
            for i in range(start, min(n, start + 200))
        ]
        r = sf.post(f"{V}/composite/sobjects", json={"allOrNone": True, "records": records})
        assert all(x["success"] for x in r.json()), r.text[:500]


def test_query_paging_batch_size_and_query_more(sf: httpx.Client) -> None:
    _load_contacts(sf, 450)
    headers = {"Sforce-Query-Options": "batchSize=200"}
    r = sf.get(
        f"{V}/query", params={"q": "SELECT Id, LastName FROM Contact ORDER BY LastName"}, headers=headers
    )
    page = r.json()
    assert page["totalSize"] == 450 and page["done"] is False and len(page["records"]) == 200
    assert page["nextRecordsUrl"].startswith(f"{V}/query/01g") and page["nextRecordsUrl"].endswith("-200")
    names = [rec["LastName"] for rec in page["records"]]
    while not page["done"]:
        page = sf.get(page["nextRecordsUrl"], headers=headers).json()
        names += [rec["LastName"] for rec in page["records"]]
    assert names == [f"L{i:05d}" for i in range(450)]
    assert "nextRecordsUrl" not in page
    rec = sf.get(f"{V}/query/", params={"q": "SELECT Id FROM Contact LIMIT 1"}).json()["records"][0]
    assert (
        rec["attributes"]["type"] == "Contact"
        and rec["attributes"]["url"] == f"{V}/sobjects/Contact/{rec['Id']}"
    )


def test_query_default_page_is_2000(sf: httpx.Client) -> None:
    _load_contacts(sf, 2001)
    page = sf.get(f"{V}/query", params={"q": "SELECT Id FROM Contact"}).json()
    assert len(page["records"]) == 2000 and page["nextRecordsUrl"].endswith("-2000")
    rest = sf.get(page["nextRecordsUrl"]).json()
    assert rest["done"] is True and len(rest["records"]) == 1


def test_count_query_all_and_columns(sf: httpx.Client) -> None:
    _load_contacts(sf, 3)
    r = sf.get(f"{V}/query", params={"q": "SELECT COUNT() FROM Contact"})
    assert r.json() == {"totalSize": 3, "done": True, "records": []}
    some = sf.get(f"{V}/query", params={"q": "SELECT Id FROM Contact LIMIT 1"}).json()["records"][0]["Id"]
    assert sf.delete(f"{V}/sobjects/Contact/{some}").status_code == 204
    assert sf.get(f"{V}/query", params={"q": "SELECT COUNT() FROM Contact"}).json()["totalSize"] == 2
    assert sf.get(f"{V}/queryAll", params={"q": "SELECT Id FROM Contact"}).json()["totalSize"] == 3
    cols = sf.get(f"{V}/query", params={"q": "SELECT Id, LastName FROM Contact", "columns": "true"}).json()
    assert set(cols) == {"columnMetadata", "entityName", "groupBy", "idSelected", "keyPrefix"}
    assert cols["entityName"] == "Contact" and cols["groupBy"] is False and cols["idSelected"] is True
    assert cols["keyPrefix"] == "003"
    assert [c["columnName"] for c in cols["columnMetadata"]] == ["Id", "LastName"]


def test_query_errors_and_organization(sf: httpx.Client, emulator: Any) -> None:
    r = sf.get(f"{V}/query", params={"q": "SELECT Foo FROM Account"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
    r = sf.get(f"{V}/query", params={"q": "SELECT Id FROM ScratchOrgInfo LIMIT 1"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_TYPE"
    r = sf.get(f"{V}/query", params={"q": "SELEKT Id FROM Account"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "MALFORMED_QUERY"
    r = sf.get(f"{V}/query/01gBOGUS-2000")
    assert r.status_code == 400
    org = sf.get(f"{V}/query", params={"q": "SELECT Name, IsSandbox FROM Organization"}).json()
    assert org["records"][0]["Name"] == emulator.config.org_name
    user = sf.get(f"{V}/sobjects/User/{emulator.config.users[0].id}").json()
    assert user["Username"] == "admin@example.com"


def test_unknown_paths_and_methods(sf: httpx.Client) -> None:
    r = sf.get(f"{V}/nothing/here")
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"
    r = sf.put(f"{V}/sobjects/Account/001000000000000AAA", json={})
    assert r.status_code == 405 and r.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_the_in_process_transport_serves_many_threads_at_once(emulator: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    token = emulator.token()

    def create(n: int) -> list[int]:
        with httpx.Client(
            transport=emulator.transport,
            base_url=emulator.base_url,
            headers={"Authorization": f"Bearer {token}"},
        ) as c:
            return [
                c.post(f"{V}/sobjects/Account/", json={"Name": f"T{n}-{i}"}).status_code for i in range(10)
            ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = [code for batch in pool.map(create, range(8)) for code in batch]
    assert codes == [201] * 80
    assert emulator.org.query("SELECT COUNT() FROM Account").total_size == 80
    assert emulator.usage() == 80


def test_a_retried_next_records_url_returns_the_same_page(sf: httpx.Client) -> None:
    _load_contacts(sf, 500)
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.get(
        f"{V}/query", params={"q": "SELECT LastName FROM Contact ORDER BY LastName"}, headers=headers
    ).json()
    second = sf.get(first["nextRecordsUrl"], headers=headers).json()
    again = sf.get(first["nextRecordsUrl"], headers=headers).json()
    assert again == second and second["done"] is False
    assert [r["LastName"] for r in second["records"]][:1] == ["L00200"]
    third = sf.get(second["nextRecordsUrl"], headers=headers).json()
    assert third["done"] is True and len(third["records"]) == 100 and third["totalSize"] == 500
    assert (
        sf.get(third.get("nextRecordsUrl") or first["nextRecordsUrl"].replace("-200", "-999")).status_code
        == 400
    )


def test_doubled_slashes_are_accepted_like_a_real_org(sf: httpx.Client, emulator: Any) -> None:
    # the sf CLI keeps a trailing slash on its instance URL: https://host:port//services/data/...
    base = emulator.base_url + "/"
    assert sf.get(f"{base}/services/data").status_code == 200
    created = sf.post(f"{base}{V}/sobjects/Account/", json={"Name": "Slashes"})
    assert created.status_code == 201
    assert sf.get(f"{base}{V}//sobjects/Account/{created.json()['id']}").json()["Name"] == "Slashes"
