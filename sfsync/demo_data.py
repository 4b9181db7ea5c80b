"""The demo: a DuckDB warehouse of sample people, companies, contracts and support tickets, and the demo
project that reads it.

``sfsync init --demo`` and ``sfsync demo`` write the demo project with :func:`write_demo_project`: the
project files of :func:`sfsync.config.scaffold.write_project` plus ``warehouse.duckdb``, whose rows are
realistic and awkward on purpose (accents, quotes, commas, newlines, nulls, long strings, a few e-mails
Salesforce rejects). The data is generated from a fixed seed: the same warehouse every time.

This is sample data, not part of syncing: it sits beside ``config`` in the layers (it uses the project
scaffold, and only the CLI uses it), so the project-file package holds no data generator.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from sfsync.config.scaffold import PROJECT_FILE, WAREHOUSE_FILE, write_project

DEMO_PEOPLE = 3000
"""Rows of the demo ``people`` table."""
DEMO_COMPANIES = 600
"""Rows of the demo ``companies`` table."""
DEMO_SEED = 20240601
"""Seed of the demo data generator (the same warehouse every time)."""
DEMO_INVALID_EMAILS = 3
"""People whose email Salesforce rejects (INVALID_EMAIL_ADDRESS), so the demo shows rejected rows."""
DEMO_CONTRACTS = 300
"""Rows of the demo ``contracts`` table (each of one company: a Contract linked to its Account)."""
DEMO_TICKETS = 400
"""Rows of the demo ``tickets`` table (each of one person and their company: a Case linked to both)."""


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


_SUBJECTS = [
    "Cannot log in",
    "Invoice shows the wrong amount",
    "Export to CSV drops accents: Zoë → Zo?",
    'Feature request: "dark mode"',
    "Data sync late, again",
    "Password reset e-mail never arrives",
    "Renewal quote, please",
]


def _contracts(rng: random.Random, n: int, companies: int) -> pa.Table:
    rows: dict[str, list[object]] = {
        k: [] for k in ("contract_id", "company_id", "start_date", "term_months", "special_terms")
    }
    for i in range(1, n + 1):
        rows["contract_id"].append(f"K-{i:05d}")
        rows["company_id"].append(f"C-{rng.randint(1, companies):05d}")
        rows["start_date"].append(date(2023, 1, 1) + timedelta(days=rng.randint(0, 700)))
        rows["term_months"].append(rng.choice([12, 24, 36]))
        rows["special_terms"].append(None if i % 3 else 'Net 60; price locked for the term, "no surprises".')
    types = {"start_date": pa.date32(), "term_months": pa.int32()}
    return pa.table({k: pa.array(v, type=types.get(k, pa.string())) for k, v in rows.items()})


def _tickets(rng: random.Random, n: int, people: pa.Table) -> pa.Table:
    """Tickets of random people; the first ones are of the people whose e-mail Salesforce rejects, so
    the demo shows their Cases refused with PARENT_REJECTED, then linked once the e-mails are fixed."""
    ids = people.column("person_id").to_pylist()
    company = people.column("company_id").to_pylist()
    invalid = [i for i, e in enumerate(people.column("email").to_pylist()) if e and " at " in e]
    rows: dict[str, list[object]] = {
        k: [] for k in ("ticket_id", "person_id", "company_id", "subject", "description", "priority")
    }
    for i in range(1, n + 1):
        who = invalid[i - 1] if i <= len(invalid) else rng.randrange(len(ids))
        rows["ticket_id"].append(f"T-{i:05d}")
        rows["person_id"].append(ids[who])
        rows["company_id"].append(company[who])
        rows["subject"].append(rng.choice(_SUBJECTS))
        rows["description"].append(
            None if i % 4 else 'Steps:\n1. open the app\n2. it fails, with a comma, and a "quote"'
        )
        rows["priority"].append(rng.choice(["High", "Medium", "Low"]))
    return pa.table({k: pa.array(v, type=pa.string()) for k, v in rows.items()})


def write_demo_warehouse(
    path: Path, *, people: int = DEMO_PEOPLE, companies: int = DEMO_COMPANIES, seed: int = DEMO_SEED
) -> dict[str, int]:
    """Create (or replace) the demo DuckDB warehouse at ``path``; returns rows per table."""
    rng = random.Random(seed)
    company_table = _companies(rng, companies)
    people_table = _people(rng, people, companies)
    contract_table = _contracts(rng, DEMO_CONTRACTS, companies)
    ticket_table = _tickets(rng, DEMO_TICKETS, people_table)
    tables = (
        ("companies", company_table),
        ("people", people_table),
        ("contracts", contract_table),
        ("tickets", ticket_table),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute("set enable_progress_bar = false")
    try:
        for name, table in tables:
            con.register("incoming", table)
            con.execute(f"create table {name} as select * from incoming")
            con.unregister("incoming")
    finally:
        con.close()
    return {name: table.num_rows for name, table in tables}


def write_demo_project(directory: Path, *, force: bool = False, file_name: str = PROJECT_FILE) -> list[Path]:
    """The demo project in ``directory``: its project files, then the warehouse it reads (``force``:
    overwrite an existing project file); returns the files written."""
    written = write_project(directory, demo=True, force=force, file_name=file_name)
    warehouse = directory / WAREHOUSE_FILE
    write_demo_warehouse(warehouse)
    return [*written, warehouse]


__all__ = [
    "DEMO_COMPANIES",
    "DEMO_CONTRACTS",
    "DEMO_INVALID_EMAILS",
    "DEMO_PEOPLE",
    "DEMO_SEED",
    "DEMO_TICKETS",
    "write_demo_project",
    "write_demo_warehouse",
]
