"""The two-sync project of the orchestrator tests (accounts, and contacts looking them up), with no
orchestrator imported (the Airflow recipe's tests use it too)."""

from __future__ import annotations

from tests.plugins.emulator import InProcessEmulator

PROJECT = """version: 1
sources:
  wh: {type: duckdb, path: wh.duckdb}
models:
  companies: {source: wh, kind: custom, primary_key: id, table: companies}
  people: {source: wh, kind: user, primary_key: id, table: people}
destinations:
  org:
    type: salesforce
    login_url: https://emulator.test
    auth: {flow: password, client_id: sfsync-demo-client, client_secret: "${SF_SECRET}",
           username: admin@example.com, password: "${SF_PASSWORD}"}
    settings: {max_retries: 0}
syncs:
  contacts:
    from: people
    to: org
    object: Contact
    mode: upsert
    api: rest
    object_id: {column: id, field: External_Id__c}
    mappings: {last: LastName, email: Email, company: Account.External_Id__c}
    tags: [nightly]
  accounts:
    from: companies
    to: org
    object: Account
    mode: upsert
    api: rest
    object_id: {column: id, field: External_Id__c}
    mappings: {name: Name}
    tags: [nightly]
"""


def records(emulator: InProcessEmulator, soql: str) -> list[dict[str, object]]:
    with emulator.client() as http:
        answer = http.get("/services/data/v62.0/query", params={"q": soql})
        answer.raise_for_status()
        records: list[dict[str, object]] = answer.json()["records"]
        return records
