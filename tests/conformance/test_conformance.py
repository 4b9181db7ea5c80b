"""Conformance cases as data: every ``cases/*.yaml`` runs against a fresh emulated org, through REST and Bulk.

A case is a warehouse table (typed columns and rows), one sync (object, mode, object id, mappings) and a
sequence of steps. After every ``run`` step the org is read back from the emulator (SOQL on the record
engine) and compared field by field with what the case expects; the run's counts, rejections by error
code and per-row results are checked too. Each case runs once per API (``apis``, default both) on its own
org, warehouse and state store; after every run the org states of the two, and their row results
(operation or error code and fields, per primary key), must be identical.

Case file keys (see the cases for examples)::

    description: what the case proves
    known_bug: why it fails today       # optional: the case is expected to fail (strict xfail) until fixed
    org: {...}                 # optional org-file additions (docs/emulator-org-file.md), e.g. custom fields
    apis: [rest, bulk]         # default: both, compared with each other after every run
    model:
      kind: user | custom
      primary_key: id
      columns: {id: INTEGER, email: VARCHAR, ...}   # DuckDB types, in order (table `rows`)
      rows: [[1, a@x.com], ...]                      # or mappings column -> value
      where: country = 'FR'                          # optional: the sync reads this segment of the model
    sync: {object: Contact, mode: upsert, object_id: {...}, mappings: {...}}   # project-file sync keys
    steps:
      - seed: {object: Contact, records: {ann: {LastName: Lee}}}   # straight into the org; ${id:ann} = its Id
      - edit: {object: Contact, records: [{Id: "${id:ann}", Phone: "555"}]}   # a hand edit in the org
      - edit: {object: Contact, where: "Email = 'a@x.com'", set: {Phone: "555"}}   # the same, found by SOQL
      - sql: UPDATE rows SET email = NULL WHERE id = 1           # one statement or a list
      - change_sync: {mappings: {email: Email, phone: Phone}}    # the user edits the sync (same state)
      - run: {full_resync: false}                                # RunOptions; api comes from `apis`
        expect:
          status: succeeded                   # omitted: partial if rows are rejected, else succeeded
          counts: {new: 1, changed: 0, unchanged: 0, created: 1, updated: 0, rejected: 0, api_calls: 0}
          rejected: {NOT_FOUND: 1}            # exactly these codes (omitted: none rejected)
          rows: {"1": created, "2": NOT_FOUND} # per-row results by primary key: operation or error code
          org:                                # one query or a list of them; records compared in order
            - soql: SELECT External_Id__c, Email FROM Contact ORDER BY External_Id__c
              records: [{External_Id__c: c1, Email: null}]   # only the fields named are compared
            - {soql: SELECT COUNT() FROM Contact, count: 1}   # total size only
            - {soql: SELECT IsDeleted FROM Contact, all_rows: true, records: [...]}  # queryAll
      - run: {}
        expect:
          error: [u1, uid]                    # the run must raise an SfsyncError whose text says each
          org: {soql: SELECT COUNT() FROM Contact, count: 1}  # (and is recorded as failed)

Several syncs (related records): ``models`` (name → model, its table is named after it) and ``syncs``
(name → sync with ``from: <model>``) replace ``model`` and ``sync``. A ``run`` step then runs a *pass*
the way ``sfsync run A B`` does (parents first, rejected parents shared): ``run: {syncs: [a, b]}`` (default:
every sync), and its ``expect`` holds ``order`` (the syncs in the order they ran), ``runs`` (sync name →
``status`` / ``counts`` / ``rejected`` / ``rows`` / ``messages``) and ``org``. ``messages`` (primary key →
a fragment of the rejection message) works in single-sync cases too.

The model's rows are inserted just before the first step that is not a ``seed``.

``api_calls: 0`` also checks the emulator's own usage counter did not move during the run.
Values in ``rows``, SQL and seeded records may use ``${id:label}`` for the Id of a seeded record.
"""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from sfsync.api import Project as Facade
from sfsync.config import Api, load_project
from sfsync.emulator.endpoints.app import create_app
from sfsync.emulator.metadata.schema import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
)
from sfsync.errors import ConfigError, SfsyncError
from sfsync.state import StateStore
from sfsync.sync.engine import RunOptions, RunResult, SyncSession
from tests.plugins.emulator import InProcessEmulator

CASES_DIR = Path(__file__).parent / "cases"
CASE_FILES = sorted(CASES_DIR.glob("*.yaml"))
TABLE = "rows"
SYNC = "case"
#: Audit fields the org stamps itself: they differ between two orgs and are never compared.
AUDIT_FIELDS = {"CreatedDate", "LastModifiedDate", "SystemModstamp", "LastViewedDate", "LastReferencedDate"}
_REF = re.compile(r"\$\{id:([A-Za-z0-9_]+)\}")
_KNOWN_CASE_KEYS = {"description", "known_bug", "org", "apis", "model", "sync", "models", "syncs", "steps"}
_KNOWN_EXPECT_KEYS = {"status", "counts", "rejected", "rows", "messages", "org", "error"}
_KNOWN_PASS_EXPECT_KEYS = {"order", "runs", "org"}


def _expand(value: Any, ids: dict[str, str]) -> Any:
    """Replace ``${id:label}`` by the seeded record's Id, in strings, lists and mappings."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in ids:
                raise AssertionError(f"${{id:{m.group(1)}}} names no seeded record (seeded: {sorted(ids)})")
            return ids[m.group(1)]

        return _REF.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, ids) for k, v in value.items()}
    return value


def _normal(value: Any) -> Any:
    """Expected values from YAML in the org's JSON form (YAML may parse dates; numbers compare as numbers)."""
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC) if value.tzinfo else value
        return utc.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):  # a parent record (Account.Name)
        return _plain(value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    return value


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _normal(v) for k, v in record.items() if k != "attributes"}


@dataclass
class CaseRun:
    """One case on one API: its own org, warehouse, project and state store."""

    case: dict[str, Any]
    api: Api
    root: Path
    emulator: InProcessEmulator = field(init=False)
    syncs: dict[str, dict[str, Any]] = field(init=False)  # the syncs as the project file has them now
    models: dict[str, dict[str, Any]] = field(init=False)
    session: SyncSession = field(init=False)
    ids: dict[str, str] = field(default_factory=dict)
    states: list[list[tuple[Any, ...]]] = field(default_factory=list)
    #: per run: (primary key, success, operation, error code, fields) of every row result, sorted
    outcomes: list[list[tuple[Any, ...]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True)
        org_file = None
        if self.case.get("org"):
            org_file = self.root / "org.yaml"
            org_file.write_text(yaml.safe_dump(self.case["org"]))
        self.emulator = InProcessEmulator(create_app(org_file=str(org_file) if org_file else None))
        if "models" in self.case:
            self.models = dict(self.case["models"])
            self.syncs = {n: dict(v) for n, v in self.case["syncs"].items()}
        else:
            self.models = {TABLE: self.case["model"]}
            self.syncs = {SYNC: dict(self.case["sync"])}
        self.objects = sorted({s["object"] for s in self.syncs.values()})

    @property
    def sync(self) -> dict[str, Any]:
        return self.syncs[SYNC]

    # ---- set up -----------------------------------------------------------------------------------
    def start(self) -> None:
        with duckdb.connect(str(self.root / "wh.duckdb")) as con:
            for table, model in self.models.items():
                columns: dict[str, str] = model["columns"]
                con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
        self._write_project()
        self.session = self._open_session(StateStore.open(self.root / ".sfsync"))

    def _open_session(self, store: StateStore) -> SyncSession:
        project = load_project(
            self.root / "sfsync.yml",
            environ={"SF_SECRET": DEFAULT_CLIENT_SECRET, "SF_PASSWORD": DEFAULT_PASSWORD},
        )
        return SyncSession(project, store, transport=self.emulator.transport)

    def facade(self) -> Facade:
        """What ``sfsync run`` goes through, on this case's project, state store and org."""
        return Facade(self.session.project, self.session.store, transport=self.emulator.transport, owns=False)

    def change_sync(self, changes: dict[str, Any]) -> None:
        """The user edits the sync in the project file (same state store): keys replace the sync's keys."""
        self.sync.update(changes)
        self._write_project()
        self.session.close()
        self.session = self._open_session(self.session.store)

    def insert_rows(self) -> None:
        for table, model in self.models.items():
            names = list(model["columns"])
            rows = [
                [r.get(c) for c in names] if isinstance(r, dict) else list(r)
                for r in _expand(model.get("rows") or [], self.ids)
            ]
            if rows:
                with duckdb.connect(str(self.root / "wh.duckdb")) as con:
                    marks = ", ".join("?" for _ in names)
                    con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)

    def _write_project(self) -> None:
        single = "models" not in self.case
        syncs = {}
        for name, spec in self.syncs.items():
            sync = dict(spec)
            if single:
                sync["from"] = "segment" if self.models[TABLE].get("where") else "model"
            sync.update({"to": "org", "api": self.api})
            syncs[name] = sync
        models = {
            ("model" if single else table): {
                "source": "wh",
                "kind": m["kind"],
                "primary_key": m["primary_key"],
                "table": table,
            }
            for table, m in self.models.items()
        }
        where = self.models[TABLE].get("where") if single else None
        project = {
            "version": 1,
            "sources": {"wh": {"type": "duckdb", "path": "wh.duckdb"}},
            "models": models,
            "segments": {"segment": {"model": "model", "where": where}} if where else {},
            "destinations": {
                "org": {
                    "type": "salesforce",
                    "login_url": self.emulator.base_url,
                    "auth": {
                        "flow": "password",
                        "client_id": DEFAULT_CLIENT_ID,
                        "client_secret": "${SF_SECRET}",
                        "username": DEFAULT_USERNAME,
                        "password": "${SF_PASSWORD}",
                    },
                    # poll Bulk jobs quickly: the emulator finishes them in milliseconds
                    "settings": {"bulk_poll_seconds": 0.05},
                }
            },
            "syncs": syncs,
        }
        (self.root / "sfsync.yml").write_text(yaml.safe_dump(project, sort_keys=False, allow_unicode=True))

    def close(self) -> None:
        if hasattr(self, "session"):
            self.session.close()
            self.session.store.close()
        self.emulator.close()

    # ---- steps ------------------------------------------------------------------------------------
    def seed(self, spec: dict[str, Any]) -> None:
        labels = list(spec["records"])
        records = [_expand(spec["records"][k], self.ids) for k in labels]
        results = self.emulator.org.create(spec["object"], records)
        for label, res in zip(labels, results, strict=True):
            assert res.success, f"seeding {spec['object']} record {label!r} failed: {res}"
            assert res.id is not None
            self.ids[label] = res.id

    def edit(self, spec: dict[str, Any]) -> None:
        """Someone changes records in Salesforce by hand (by Id)."""
        if "where" in spec:
            soql = f"SELECT Id FROM {spec['object']} WHERE {_expand(spec['where'], self.ids)}"
            found = [r["Id"] for r in self.emulator.org.query(soql).records]
            assert found, f"edit: no {spec['object']} record matches {spec['where']}"
            records = [{"Id": i, **_expand(spec["set"], self.ids)} for i in found]
        else:
            records = _expand(spec["records"], self.ids)
        for res in self.emulator.org.update(records, obj=spec["object"]):
            assert res.success, f"editing {spec['object']} record {res.id} failed: {res}"

    def sql(self, statements: str | list[str]) -> None:
        with duckdb.connect(str(self.root / "wh.duckdb")) as con:
            for s in [statements] if isinstance(statements, str) else statements:
                con.execute(_expand(s, self.ids))

    def run_pass(self, options: dict[str, Any], expect: dict[str, Any], where: str) -> None:
        """Several syncs the way ``sfsync run A B`` runs them: parents first, one shared pass."""
        unknown = set(expect) - _KNOWN_PASS_EXPECT_KEYS
        assert not unknown, f"{where}: unknown expect keys of a pass {sorted(unknown)}"
        options = dict(options)
        names = options.pop("syncs", None) or list(self.syncs)
        facade = self.facade()
        order = facade.run_order(names)
        if "order" in expect:
            assert order == expect["order"], (
                f"{where}: the syncs ran in order {order}, expected {expect['order']}"
            )
        rejected = facade.new_pass()
        results = {}
        for name in order:
            results[name] = facade.run(name, api=self.api, warn=False, rejected_parents=rejected, **options)
        runs = expect.get("runs") or {}
        unknown = set(runs) - set(self.syncs)
        assert not unknown, f"{where}: expect.runs names unknown syncs {sorted(unknown)}"
        for name, want in runs.items():
            assert not set(want) - _KNOWN_EXPECT_KEYS, f"{where}: unknown expect keys for {name}"
            self._check_result(results[name], None, want, f"{where} sync {name}", sync=name)
        self._check_org(expect, where)
        self.states.append(self.org_state())
        self.outcomes.append(
            sorted(
                (name, r.primary_key, r.success, r.operation, r.error_code, r.fields)
                for name, result in results.items()
                for r in self.session.store.row_results(result.run_id)
            )
        )

    def run(self, options: dict[str, Any], expect: dict[str, Any], where: str) -> None:
        if "models" in self.case:
            self.run_pass(options, expect, where)
            return
        unknown = set(expect) - _KNOWN_EXPECT_KEYS
        assert not unknown, f"{where}: unknown expect keys {sorted(unknown)}"
        usage_before = self.emulator.usage()
        try:
            result = self.session.run(SYNC, RunOptions(api=self.api, **options))
        except SfsyncError as e:
            if "error" not in expect:
                problems = e.problems if isinstance(e, ConfigError) else []
                raise AssertionError(f"{where}: {type(e).__name__}: {e} {problems}") from e
            for part in [expect["error"]] if isinstance(expect["error"], str) else expect["error"]:
                assert part in str(e), f"{where}: the run failed with {e!r}, which does not say {part!r}"
            last = self.session.store.last_run(SYNC)
            assert last is not None and last.status.value == expect.get("status", "failed"), (
                f"{where}: the failed run is recorded as {last.status if last else None}"
            )
            self._check_org(expect, where)
            self.states.append(self.org_state())
            return
        assert "error" not in expect, f"{where}: the run succeeded, expected it to fail: {result}"
        usage = self.emulator.usage() - usage_before
        self._check_result(result, usage, expect, where)
        self._check_org(expect, where)
        self.states.append(self.org_state())
        self.outcomes.append(
            sorted(
                (r.primary_key, r.success, r.operation, r.error_code, r.fields)
                for r in self.session.store.row_results(result.run_id)
            )
        )

    def _check_org(self, expect: dict[str, Any], where: str) -> None:
        queries = expect.get("org") or []
        for i, q in enumerate([queries] if isinstance(queries, dict) else queries):
            # all_rows: the recycle bin too (queryAll), e.g. to see records deleted with IsDeleted = true
            res = self.emulator.org.query(
                _expand(q["soql"], self.ids), include_deleted=bool(q.get("all_rows"))
            )
            if "count" in q:
                assert res.total_size == q["count"], (
                    f"{where}: org query {i} counted {res.total_size} records, expected {q['count']}"
                )
            got = [_plain(r) for r in res.records]
            want = [_plain(r) for r in _expand(q.get("records") or [], self.ids)]
            assert len(got) == len(want), (
                f"{where}: org query {i} gave {len(got)} records, expected {len(want)}"
            )
            for n, (g, w) in enumerate(zip(got, want, strict=True)):
                for name, value in w.items():
                    assert name in g, f"{where}: org query {i} record {n} has no field {name} (query it)"
                    assert g[name] == value, (
                        f"{where}: org query {i} record {n} field {name}: "
                        f"org has {g[name]!r}, expected {value!r}"
                    )

    def _check_result(
        self, result: RunResult, usage: int | None, expect: dict[str, Any], where: str, sync: str = SYNC
    ) -> None:
        # a step that expects rejected rows expects a partial run unless it names the status
        rejecting = bool(expect.get("rejected")) or bool((expect.get("counts") or {}).get("rejected"))
        assert result.status == expect.get("status", "partial" if rejecting else "succeeded"), (
            f"{where}: run ended {result.status}: {result}"
        )
        counts = dict(expect.get("counts") or {})
        for name, value in counts.items():
            got = getattr(result.counts, name)
            assert got == value, f"{where}: counts.{name} = {got}, expected {value} ({result.counts})"
        if counts.get("api_calls") == 0 and usage is not None:
            assert usage == 0, f"{where}: the emulator counted {usage} API calls, expected none"
        assert result.rejected_by_code == dict(expect.get("rejected") or {}), (
            f"{where}: rejected by code {result.rejected_by_code}, expected {expect.get('rejected') or {}}"
        )
        want_rows = {str(k): v for k, v in (expect.get("rows") or {}).items()}
        stored = {r.primary_key: r for r in self.session.store.row_results(result.run_id)}
        for pk, fragment in (expect.get("messages") or {}).items():
            r = stored.get(str(pk))
            assert r is not None and fragment in (r.message or ""), (
                f"{where}: row {pk}'s message {r.message if r else None!r} does not say {fragment!r}"
            )
        if want_rows:
            for pk, outcome in want_rows.items():
                assert pk in stored, f"{where}: no row result for primary key {pk} (have {sorted(stored)})"
                r = stored[pk]
                got = r.operation if r.success else r.error_code
                assert got == outcome, f"{where}: row {pk} ended {got} ({r.message}), expected {outcome}"
                assert r.success or r.message, f"{where}: row {pk} was rejected without a message"
                if r.success:
                    assert r.record_id, f"{where}: row {pk} was accepted without a record id"

    def org_state(self) -> list[tuple[Any, ...]]:
        """Every record of the synced objects, all written fields except Id, in a canonical order.

        A reference is compared through its target's external id (record ids differ between two orgs)."""
        out: list[tuple[Any, ...]] = []
        for name in self.objects:
            obj = self.emulator.config.object(name)
            assert obj is not None
            names = [
                f.name
                for f in obj.fields.values()
                if (f.createable or f.updateable)
                and f.name not in AUDIT_FIELDS
                and f.type not in ("address", "location")
            ]
            rows = self.emulator.org.query(f"SELECT {', '.join(names)} FROM {name}").records
            out += sorted(
                (name, *sorted((k, repr(self._portable(v))) for k, v in _plain(r).items())) for r in rows
            )
        return out

    def _portable(self, value: Any) -> Any:
        """A record id as ``object:External_Id__c`` (or the user's name, the queue's name) when it is one."""
        if not isinstance(value, str) or len(value) != 18:
            return value
        obj = self.emulator.config.object_by_prefix(value[:3])
        if obj is None:
            return value
        key = (
            "External_Id__c"
            if "External_Id__c" in obj.fields
            else ("Username" if obj.name == "User" else "Name")
        )
        rows = list(self.emulator.org.query(f"SELECT {key} FROM {obj.name} WHERE Id = '{value}'").records)
        return f"{obj.name}:{rows[0][key]}" if rows else value


def _play(
    case: dict[str, Any], api: Api, root: Path, name: str, run_class: type[CaseRun] = CaseRun
) -> CaseRun:
    cr = run_class(case, api, root)
    try:
        cr.start()
        started = False
        for i, step in enumerate(case["steps"], start=1):
            where = f"{name} [{api}] step {i}"
            if not started and "seed" not in step:
                cr.insert_rows()
                started = True
            if "seed" in step:
                cr.seed(step["seed"])
            elif "change_sync" in step:
                cr.change_sync(step["change_sync"])
            elif "edit" in step:
                cr.edit(step["edit"])
            elif "sql" in step:
                cr.sql(step["sql"])
            elif "run" in step:
                cr.run(step.get("run") or {}, step.get("expect") or {}, where)
            else:
                raise AssertionError(
                    f"{where}: a step is one of seed, edit, sql, change_sync, run; got {sorted(step)}"
                )
    finally:
        cr.close()
    return cr


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = set(case) - _KNOWN_CASE_KEYS
    assert not unknown, f"{path.name}: unknown keys {sorted(unknown)}"
    return case


def test_cases_exist() -> None:
    assert len(CASE_FILES) >= 10, f"conformance cases missing from {CASES_DIR}"


#: Cases that took over ~2 s each (pytest --durations): the others stay in the fast loop (-m "not slow").
SLOW_CASES = frozenset(
    {
        "awkward_text_case",
        "full_resync_lead",
        "insert_account_retry",
        "insert_lead",
        "lookup_case_contact_account",
        "lookup_contact_account",
        "lookup_contract_account",
        "lookup_parent_rejected",
        "lookup_self_reference",
        "mapping_change_contact",
        "rejected_retry_contact",
        "removed_clear_contact",
        "removed_delete_contact",
        "removed_delete_update_by_id",
        "removed_flag_segment",
        "segment_contact_key_errors",
        "typed_values_account",
        "update_account_by_external_id",
        "update_case_by_id",
        "update_contact_by_id",
        "upsert_contact_lifecycle",
        "upsert_contact_nulls",
    }
)


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW_CASES else p for p in CASE_FILES],
    ids=[p.stem for p in CASE_FILES],
)
def test_case(path: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    case = _load(path)
    if case.get("known_bug"):
        request.applymarker(pytest.mark.xfail(reason=case["known_bug"], strict=True))
    apis = case.get("apis") or ["rest", "bulk"]
    # the APIs run side by side, each on its own org, warehouse and state store
    with ThreadPoolExecutor(max_workers=len(apis)) as pool:
        runs = list(pool.map(lambda api: _play(case, api, tmp_path / api, path.stem), apis))
    first = runs[0]
    assert first.states, f"{path.stem}: the case has no run step"
    for other in runs[1:]:
        for i, (a, b) in enumerate(zip(first.states, other.states, strict=True), start=1):
            only_a = sorted(set(a) - set(b))[:3]
            only_b = sorted(set(b) - set(a))[:3]
            assert a == b, (
                f"{path.stem}: after run {i} the org differs between {first.api} and {other.api}:"
                f" only via {first.api}: {only_a}; only via {other.api}: {only_b}"
            )
        for i, (a, b) in enumerate(zip(first.outcomes, other.outcomes, strict=True), start=1):
            diff = sorted(set(a) ^ set(b))[:4]
            assert a == b, (
                f"{path.stem}: run {i}'s row results differ between {first.api} and {other.api}: {diff}"
            )
