"""A valid project file (the shape docs/project-file.md describes) that tests break one piece at a time."""

from __future__ import annotations

BASE = """\
version: 1
sources:
  warehouse: {type: duckdb, path: warehouse.duckdb}
  pg: {type: postgres, url: "postgresql://app:${PG_PASSWORD}@localhost/analytics"}
models:
  customers: {source: warehouse, kind: user, primary_key: customer_id, sql: "select * from customers"}
  companies: {source: warehouse, kind: custom, primary_key: company_id, table: companies}
segments:
  french_vips: {model: customers, where: "country = 'FR' and lifetime_value > 1000"}
destinations:
  salesforce:
    type: salesforce
    login_url: https://login.salesforce.com
    auth: {flow: password, client_id: "${SF_CLIENT_ID}", client_secret: "${SF_CLIENT_SECRET}",
           username: "${SF_USERNAME}", password: "${SF_PASSWORD}"}
notifications:
  ops_email: {type: email, to: [ops@example.com], smtp: {host: localhost, port: 25}}
  ops_slack: {type: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}
syncs:
  vip_contacts:
    from: french_vips
    to: salesforce
    object: Contact
    mode: upsert
    object_id: {column: customer_id, field: External_Id__c}
    mappings: {email: Email, first_name: FirstName, last_name: LastName}
    schedule: {every: 15m}
    warnings: {on_failure: true, rejected_rows_percent: 10, notify: [ops_email, ops_slack]}
"""

ENV = {
    "PG_PASSWORD": "pg-secret-1",
    "SF_CLIENT_ID": "client-id",
    "SF_CLIENT_SECRET": "client-secret-2",
    "SF_USERNAME": "admin@example.com",
    "SF_PASSWORD": "sf-password-3",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T0/B0/xyz",
}


def edit(old: str, new: str, text: str = BASE) -> str:
    """``text`` with ``old`` replaced by ``new`` exactly once (fails loudly when ``old`` is not there)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the base project"
    return text.replace(old, new)
