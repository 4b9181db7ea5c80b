"""``sfsync init [DIR] [--demo]``: a commented starter project, or the demo project.

``init`` writes ``sfsync.yml``, a ``.env`` for the secrets it references and a ``.gitignore`` keeping
``.env`` and the state directory out of git. The demo project points the destination at the local org
emulator (``sfsync emulator``, http://127.0.0.1:8642) with its default credentials, and reads
``warehouse.duckdb``, which :mod:`sfsync.demo_data` writes.
"""

from __future__ import annotations

import os
from pathlib import Path

from sfsync.errors import ConfigError

EMULATOR_URL = "http://127.0.0.1:8642"

PROJECT_FILE = "sfsync.yml"
WAREHOUSE_FILE = "warehouse.duckdb"

_GITIGNORE = """\
# secrets and local state never go to git
.env
.sfsync/
"""

_STARTER_ENV = """\
# Secrets referenced as ${NAME} in sfsync.yml. The environment wins over this file. Keep it out of git.
SF_CLIENT_ID=
SF_CLIENT_SECRET=
SF_USERNAME=
SF_PASSWORD=
"""

_DEMO_ENV = """\
# Secrets referenced as ${NAME} in sfsync.yml: the local org emulator's default credentials.
# The environment wins over this file. Keep it out of git.
SF_CLIENT_ID=sfsync-demo-client
SF_CLIENT_SECRET=sfsync-demo-secret
SF_USERNAME=admin@example.com
SF_PASSWORD=sfsync-demo
"""

_STARTER = """\
# sfsync project: which warehouse rows go to which Salesforce object. Reference: docs/project-file.md
version: 1

sources:
  # The embedded default: a DuckDB file (relative paths start at this file's directory).
  warehouse: {type: duckdb, path: warehouse.duckdb}
  # crm_db: {type: postgres, url: "postgresql://app:${PG_PASSWORD}@localhost:5432/analytics"}
  # snow: {type: sqlalchemy, url: "snowflake://me:${SNOWFLAKE_PASSWORD}@account/db/schema"}
  # files: {type: csv, path: data/}      # each data/*.csv is a table named after the file

models:
  # kind: user (one row per person: Contact, Lead) | custom (one row per anything: Account, Case, ...)
  customers: {source: warehouse, kind: user, primary_key: customer_id, sql: "select * from customers"}

segments:
  # A model filtered in the warehouse.
  active_customers: {model: customers, where: "status = 'active'"}

destinations:
  salesforce:
    type: salesforce
    login_url: https://login.salesforce.com     # https://test.salesforce.com for a sandbox
    # Secrets never sit in this file: ${NAME} reads the environment or the .env beside it.
    auth: {flow: password, client_id: "${SF_CLIENT_ID}", client_secret: "${SF_CLIENT_SECRET}",
           username: "${SF_USERNAME}", password: "${SF_PASSWORD}"}

notifications: {}
  # ops_email: {type: email, to: [ops@example.com], smtp: {host: localhost, port: 25}}
  # ops_slack: {type: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}

syncs:
  customers_to_contacts:
    from: active_customers          # a model or a segment
    to: salesforce
    object: Contact
    mode: upsert                    # insert | update | upsert
    object_id: {column: customer_id, field: External_Id__c}
    mappings: {email: Email, first_name: FirstName, last_name: LastName}
    schedule: {manual: true}        # {every: 15m} | {daily: "07:00"} | {cron: "0 7 * * 1-5"} | {any: [...]}
    warnings: {on_failure: true, rejected_rows_percent: 10}
"""

_DEMO = """\
# sfsync demo project: a DuckDB warehouse syncing into the local org emulator.
# Start the emulator (`sfsync emulator`), then: sfsync check; sfsync plan people_to_contacts; sfsync run --all
# Reference: docs/project-file.md
version: 1

sources:
  warehouse: {type: duckdb, path: warehouse.duckdb}

models:
  companies:
    source: warehouse
    kind: custom                    # one row per company -> Account
    primary_key: company_id
    table: companies
  people:
    source: warehouse
    kind: user                      # one row per person -> Contact, Lead
    primary_key: person_id
    sql: |
      select p.*, c.name as company_name
      from people p left join companies c using (company_id)
  contracts:
    source: warehouse
    kind: custom                    # one row per contract -> Contract (linked to its Account)
    primary_key: contract_id
    table: contracts
  tickets:
    source: warehouse
    kind: custom                    # one row per support ticket -> Case (linked to Contact and Account)
    primary_key: ticket_id
    table: tickets

segments:
  french_people: {model: people, where: "country = 'France'"}
  reachable_people: {model: people, where: "email is not null"}   # people we can e-mail

destinations:
  emulator:
    type: salesforce
    login_url: EMULATOR_URL
    # The emulator's default user and connected app, read from .env (secrets never sit in this file).
    auth: {flow: password, client_id: "${SF_CLIENT_ID}", client_secret: "${SF_CLIENT_SECRET}",
           username: "${SF_USERNAME}", password: "${SF_PASSWORD}"}

syncs:
  companies_to_accounts:
    from: companies
    to: emulator
    object: Account
    mode: upsert
    object_id: {column: company_id, field: External_Id__c}
    mappings:
      name: Name
      website: Website
      phone: Phone
      city: BillingCity
      country: BillingCountry
      employees: NumberOfEmployees
      annual_revenue: AnnualRevenue
      description: Description
    warnings: {on_failure: true, rejected_rows_percent: 10}

  people_to_contacts:
    from: reachable_people          # a segment of the user model
    to: emulator
    object: Contact
    mode: upsert
    object_id: {column: person_id, field: External_Id__c}
    mappings:
      first_name: FirstName
      last_name: LastName
      company_id: Account.External_Id__c   # a lookup: the Account whose External_Id__c is company_id
      email: Email
      phone: Phone
      title: Title
      birthdate: Birthdate
      city: MailingCity
      country: MailingCountry
      notes: Description
      do_not_call: DoNotCall
    schedule: {every: 15m}
    warnings: {on_failure: true, rejected_rows_percent: 10}

  # update: changes existing Contacts only. People without an e-mail are not Contacts (see the segment
  # above), so their rows are rejected with NOT_FOUND and retried on the next run.
  contact_mobile_phones:
    from: people
    to: emulator
    object: Contact
    mode: update
    object_id: {column: person_id, field: External_Id__c}
    mappings: {phone: MobilePhone}

  french_leads:
    from: french_people
    to: emulator
    object: Lead
    mode: insert
    mappings:
      first_name: FirstName
      last_name: LastName
      company_name: Company
      email: Email
      LeadSource: {value: Other}          # a constant: every Lead gets it

  # Related records: syncs whose lookups name Accounts and Contacts run after the syncs writing them.
  contracts_to_contracts:
    from: contracts
    to: emulator
    object: Contract
    mode: upsert
    object_id: {column: contract_id, field: External_Id__c}
    mappings:
      company_id: Account.External_Id__c  # Contract requires its Account
      start_date: StartDate
      term_months: ContractTerm
      special_terms: SpecialTerms
      Status: {value: Draft}

  # Tickets of people without an e-mail name no Contact (they are not synced): Salesforce rejects those
  # rows with INVALID_FIELD "Foreign key external ID: … not found", and they are retried next run.
  tickets_to_cases:
    from: tickets
    to: emulator
    object: Case
    mode: upsert
    object_id: {column: ticket_id, field: External_Id__c}
    mappings:
      person_id: Contact.External_Id__c
      company_id: Account.External_Id__c
      subject: Subject
      description: Description
      priority: Priority
      Origin: {value: Web}
""".replace("EMULATOR_URL", EMULATOR_URL)


def write_project(
    directory: Path, *, demo: bool = False, force: bool = False, file_name: str = PROJECT_FILE
) -> list[Path]:
    """Scaffold a project in ``directory``; returns the files written (never overwrites without force).

    ``demo`` writes the demo project (the local emulator as destination, its credentials in ``.env``);
    :func:`sfsync.demo_data.write_demo_project` adds the warehouse it reads.
    """
    directory.mkdir(parents=True, exist_ok=True)
    project = directory / file_name
    if project.exists() and not force:
        raise ConfigError(
            f"{project} already exists",
            hint="choose another directory, or pass --force to overwrite the project file",
            file=str(project),
        )
    written = [project]
    project.write_text(_DEMO if demo else _STARTER, encoding="utf-8")
    env = directory / ".env"
    if demo or not env.exists():
        # secrets: readable by the owner only, from the moment the file exists
        fd = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_DEMO_ENV if demo else _STARTER_ENV)
        written.append(env)
    if env.exists():
        env.chmod(0o600)  # an older .env created readable by others is tightened
    gitignore = directory / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(_GITIGNORE, encoding="utf-8")
        written.append(gitignore)
    return written


__all__ = ["EMULATOR_URL", "PROJECT_FILE", "WAREHOUSE_FILE", "write_project"]
