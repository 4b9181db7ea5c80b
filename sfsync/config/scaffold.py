"""``sfsync init [DIR] [--demo]``: a commented starter project, and the demo warehouse.

``init`` writes ``sfsync.yml``, a ``.env`` for the secrets it references and a ``.gitignore`` keeping
``.env`` and the state directory out of git. ``--demo`` also writes ``warehouse.duckdb`` with realistic
people and companies (accents, quotes, commas, newlines, nulls, long strings) and points the destination at
the local org emulator (``sfsync emulator``, http://127.0.0.1:8642) with its default credentials.
"""

from __future__ import annotations

import os
import random
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from sfsync.errors import ConfigError

DEMO_PEOPLE = 3000
"""Rows of the demo ``people`` table."""
DEMO_COMPANIES = 600
"""Rows of the demo ``companies`` table."""
DEMO_SEED = 20240601
"""Seed of the demo data generator (the same warehouse every time)."""
DEMO_INVALID_EMAILS = 3
"""People whose email Salesforce rejects (INVALID_EMAIL_ADDRESS), so the demo shows rejected rows."""
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
    mappings: {first_name: FirstName, last_name: LastName, company_name: Company, email: Email}
""".replace("EMULATOR_URL", EMULATOR_URL)

_FIRST = [
    "Zoë",
    "François",
    "José",
    "Ängla",
    "Søren",
    "Chloé",
    "Renée",
    "Mikołaj",
    "Dvořák",
    "Jürgen",
    "Ines",
    "Anna",
    "Oliver",
    "Amelia",
    "Noah",
    "Léa",
    "Hugo",
    "Emma",
    "Lucas",
    "Maëlys",
    "Björn",
    "Zoltán",
    "Siobhán",
    "Çağla",
    "Nuño",
    "Ana-María",
    "D'Arcy",
    "Jean-Luc",
    "Mary Kate",
    "Ólafur",
]
_LAST = [
    "Müller",
    "O'Brien",
    "García",
    "Ñúñez",
    "Łukasiewicz",
    "Smith, Jr.",
    "D'Angelo",
    "van der Berg",
    "Dubois",
    "Martin",
    "Rossi",
    "Nguyễn",
    "Kowalski",
    "Johansson",
    "Brown",
    "Lefèvre",
    "Østergaard",
    "Fitz-Gerald",
    "McDonald",
    "Şahin",
    "Thompson",
    'Smith "Smitty"',
    "Petrović",
    "Andersson",
    "Weiß",
]
_CITIES = [
    ("Paris", "France"),
    ("Lyon", "France"),
    ("Montréal", "Canada"),
    ("München", "Germany"),
    ("Zürich", "Switzerland"),
    ("São Paulo", "Brazil"),
    ("Kraków", "Poland"),
    ("København", "Denmark"),
    ("New York", "United States"),
    ("Reykjavík", "Iceland"),
    ("Málaga", "Spain"),
    ("Orléans", "France"),
    ("London", "United Kingdom"),
    ("Zagreb", "Croatia"),
    ("Istanbul", "Türkiye"),
]
_TITLES = [
    "Head of Data",
    "VP Sales",
    "RevOps Manager",
    "Analytics Engineer",
    "CFO",
    "Directeur Général",
    "Sales, EMEA",
    'Chief "Everything" Officer',
    None,
]
_COMPANY_WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Société Générale de Données",
    "Ærø Fisk",
    "Café Crème",
    "Smith & Sons",
    'The "Best" Widgets',
]
_SUFFIXES = ["Inc.", "GmbH", "SARL", "Ltd", "S.A.", "AB", "Co., Ltd.", "& Partners", "LLC"]
_LOREM = (
    "Long-standing customer; prefers email, not phone. Notes from the last call: renewal due next quarter, "
    'asked about the "enterprise" tier, budget approved — pending legal review. '
)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode("ascii")
    out = "".join(ch for ch in folded if ch.isalnum())
    return out or "x"


def _companies(rng: random.Random, n: int) -> pa.Table:
    rows: dict[str, list[object]] = {
        k: []
        for k in (
            "company_id",
            "name",
            "website",
            "phone",
            "city",
            "country",
            "employees",
            "annual_revenue",
            "description",
            "founded",
            "updated_at",
        )
    }
    for i in range(1, n + 1):
        word = _COMPANY_WORDS[i % len(_COMPANY_WORDS)]
        name = f"{word} {rng.choice(_SUFFIXES)} {i}"
        city, country = rng.choice(_CITIES)
        rows["company_id"].append(f"C-{i:05d}")
        rows["name"].append(name)
        rows["website"].append(None if i % 11 == 0 else f"https://www.{_ascii(word)}{i}.example.com")
        rows["phone"].append(
            None if i % 7 == 0 else f"+33 1 {rng.randint(10, 99)} {rng.randint(10, 99)} {i % 100:02d}"
        )
        rows["city"].append(city)
        rows["country"].append(country)
        rows["employees"].append(None if i % 13 == 0 else rng.randint(1, 250_000))
        rows["annual_revenue"].append(
            None if i % 17 == 0 else Decimal(rng.randint(10_000, 9_000_000_000)) / 100
        )
        desc = None
        if i % 5 == 0:
            desc = f"{name}, {city}\nKey account since {2000 + i % 24}.\n" + _LOREM * (1 + i % 20)
        rows["description"].append(desc)
        rows["founded"].append(date(1900 + i % 120, 1 + i % 12, 1 + i % 28))
        rows["updated_at"].append(datetime(2024, 1, 1) + timedelta(minutes=i * 37))
    types = {
        "employees": pa.int32(),
        "annual_revenue": pa.decimal128(18, 2),
        "founded": pa.date32(),
        "updated_at": pa.timestamp("us"),
    }
    return pa.table({k: pa.array(v, type=types.get(k, pa.string())) for k, v in rows.items()})


def _people(rng: random.Random, n: int, companies: int) -> pa.Table:
    keys = (
        "person_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
        "birthdate",
        "city",
        "country",
        "company_id",
        "lifetime_value",
        "do_not_call",
        "notes",
        "signed_up_at",
    )
    rows: dict[str, list[object]] = {k: [] for k in keys}
    invalid = {n // 3 + k * 97 for k in range(DEMO_INVALID_EMAILS)}
    for i in range(1, n + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        city, country = rng.choice(_CITIES)
        rows["person_id"].append(f"P-{i:06d}")
        rows["first_name"].append(None if i % 23 == 0 else first)
        rows["last_name"].append(last)
        if i in invalid:
            email: str | None = f"{_ascii(first)}.{_ascii(last)} at example dot com"
        elif i % 19 == 0:
            email = None
        else:
            email = f"{_ascii(first)}.{_ascii(last)}.{i}@example.com"
        rows["email"].append(email)
        rows["phone"].append(None if i % 3 == 0 else f"+1 (555) {rng.randint(100, 999)}-{i % 10000:04d}")
        rows["title"].append(rng.choice(_TITLES))
        rows["birthdate"].append(None if i % 9 == 0 else date(1950 + i % 50, 1 + i % 12, 1 + i % 28))
        rows["city"].append(city)
        rows["country"].append(country)
        rows["company_id"].append(f"C-{rng.randint(1, companies):05d}")
        rows["lifetime_value"].append(round(rng.uniform(0, 25_000), 2))
        rows["do_not_call"].append(i % 10 == 0)
        notes = None
        if i % 4 == 0:
            notes = f'Met at "Data Days", {city}.\nFollow up, maybe.'
        if i % 50 == 0:
            notes = (notes or "") + "\n" + _LOREM * 25  # several kB
        rows["notes"].append(notes)
        rows["signed_up_at"].append(datetime(2022, 1, 1) + timedelta(hours=i * 5, seconds=i))
    types = {
        "birthdate": pa.date32(),
        "lifetime_value": pa.float64(),
        "do_not_call": pa.bool_(),
        "signed_up_at": pa.timestamp("us"),
    }
    return pa.table({k: pa.array(v, type=types.get(k, pa.string())) for k, v in rows.items()})


def write_demo_warehouse(
    path: Path, *, people: int = DEMO_PEOPLE, companies: int = DEMO_COMPANIES, seed: int = DEMO_SEED
) -> dict[str, int]:
    """Create (or replace) the demo DuckDB warehouse at ``path``; returns rows per table."""
    rng = random.Random(seed)
    company_table = _companies(rng, companies)
    people_table = _people(rng, people, companies)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute("set enable_progress_bar = false")
    try:
        for name, table in (("companies", company_table), ("people", people_table)):
            con.register("incoming", table)
            con.execute(f"create table {name} as select * from incoming")
            con.unregister("incoming")
    finally:
        con.close()
    return {"companies": company_table.num_rows, "people": people_table.num_rows}


def write_project(
    directory: Path, *, demo: bool = False, force: bool = False, file_name: str = PROJECT_FILE
) -> list[Path]:
    """Scaffold a project in ``directory``; returns the files written (never overwrites without force)."""
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
    if demo:
        warehouse = directory / WAREHOUSE_FILE
        write_demo_warehouse(warehouse)
        written.append(warehouse)
    return written


__all__ = [
    "DEMO_COMPANIES",
    "DEMO_INVALID_EMAILS",
    "DEMO_PEOPLE",
    "DEMO_SEED",
    "EMULATOR_URL",
    "write_demo_warehouse",
    "write_project",
]
