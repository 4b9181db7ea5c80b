"""Rotating refresh tokens shared by several workers through the PostgreSQL state (``sfsync.state.pgtokens``).

Three workers, each with its own project directory (its own ``.sfsync/``) and one PostgreSQL state,
authenticate with the refresh_token flow of a connected app that rotates refresh tokens. Before each
round every session is expired, so each worker's next run must refresh; the workers start their runs
at the same moment, and the emulator holds each refresh for a while, so the refreshes overlap. Checked:
every run succeeds, and the emulator saw each refresh token presented exactly once (a token used twice
would have been refused, or revoked the whole chain). The same workers with a SQLite state each (one
token file per worker, today's behaviour for one machine) break one another's chain at once.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sfsync.api import Project
from sfsync.emulator.metadata.model import AppDef, OrgConfig, RefreshTokenDef
from sfsync.errors import AuthError, StateError
from sfsync.state import RunStatus, StateStore, TokenFile
from sfsync.state.pgtokens import TokenRow, refresh_token_store
from tests.plugins.emulator import InProcessEmulator
from tests.plugins.workers import SharedState, worker_project, write_worker
from tests.schedule.helpers import make_people

WORKERS = 3
ROUNDS = 4
CONFIGURED = "5Aep-configured-shared-token"
AUTH = '{flow: refresh_token, client_id: rotating-app, refresh_token: "${SF_REFRESH}"}'


@pytest.fixture
def org_config(org_config: OrgConfig) -> OrgConfig:
    org_config.apps.append(AppDef("rotating-app", "rotating-secret", rotate_refresh_tokens=True))
    org_config.refresh_tokens.append(RefreshTokenDef(CONFIGURED, "admin@example.com", "rotating-app"))
    return org_config


def _worker(root: Path, n: int, state: SharedState | None) -> Path:
    """Worker ``n``'s project directory: its own sync (so the workers never wait for one another's run
    lease), its own warehouse; the refresh_token flow of the rotating app, starting from CONFIGURED."""
    sync = (
        f"  w{n}: {{from: people, to: org, object: Contact, mode: insert, api: rest,\n"
        "         mappings: {last: LastName, email: Email}}\n"
    )
    text = worker_project("https://emulator.test", sync, state, settings="{max_retries: 0}", auth=AUTH)
    env = {"SF_REFRESH": CONFIGURED, **(state.env() if state is not None else {})}
    return write_worker(root, text, env).parent


def _rounds(projects: list[Project], emulator: InProcessEmulator, tmp_path: Path) -> list[BaseException]:
    """ROUNDS rounds: sessions expire, then every worker runs its sync at the same moment."""
    errors: list[BaseException] = []
    for r in range(ROUNDS):
        emulator.runtime.sessions.expire_all()  # every worker must refresh in this round
        for n in range(WORKERS):
            make_people(tmp_path / f"w{n}" / "wh.duckdb", 3 + r)  # one more row per round: a real send
        start = threading.Barrier(WORKERS)

        def run(n: int, start: threading.Barrier = start, r: int = r) -> None:
            start.wait()
            try:
                result = projects[n].run(f"w{n}", warn=False)
                assert result.status is RunStatus.SUCCEEDED
                assert result.counts.created == (3 if r == 0 else 1)  # the new row of the round
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            break
    return errors


def test_workers_sharing_a_postgresql_state_refresh_one_rotating_chain(
    emulator: InProcessEmulator, postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    emulator.set_faults(token_delay_seconds=0.2)  # each refresh holds its token a while: they overlap
    state = SharedState(postgres_url, pg_schema, tmp_path / "files")
    homes = [_worker(tmp_path / f"w{n}", n, state) for n in range(WORKERS)]
    projects = [Project.load(h / "sfsync.yml", transport=emulator.transport) for h in homes]
    try:
        assert _rounds(projects, emulator, tmp_path) == []
    finally:
        for p in projects:
            p.close()
    presented = emulator.runtime.refresh_tokens.presented
    assert sum(presented.values()) == WORKERS * ROUNDS  # one refresh per worker and round
    assert set(presented.values()) == {1}, "a refresh token was used twice"
    assert presented[CONFIGURED] == 1
    names = sorted(r["LastName"] for r in emulator.org.query("SELECT LastName FROM Contact").records)
    assert len(names) == WORKERS * (2 + ROUNDS)
    # the newest token is in the shared state, not in any worker's directory; the configured one nowhere
    for h in homes:
        assert not (h / ".sfsync" / "tokens").exists()
    with psycopg.connect(postgres_url) as conn:
        (origin, token), *_ = conn.execute(
            sql.SQL("SELECT origin, refresh_token FROM {}.refresh_tokens").format(sql.Identifier(pg_schema))
        ).fetchall()
    assert CONFIGURED not in origin and token not in presented  # the newest is the one not used yet


def test_workers_with_a_state_each_break_one_anothers_chain(
    emulator: InProcessEmulator, tmp_path: Path
) -> None:
    homes = [_worker(tmp_path / f"w{n}", n, None) for n in range(WORKERS)]
    projects = [Project.load(h / "sfsync.yml", transport=emulator.transport) for h in homes]
    try:
        errors = _rounds(projects, emulator, tmp_path)
    finally:
        for p in projects:
            p.close()
    assert errors and all(isinstance(e, AuthError) for e in errors), errors


def test_a_stored_chain_belongs_to_the_configured_token_it_began_with(
    postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    with StateStore.open(tmp_path / "pg", url=postgres_url, schema=pg_schema) as store:
        row = refresh_token_store(store, "org")
        assert isinstance(row, TokenRow)
        with row.locked():
            assert row.load("5Aep-first") is None  # nothing stored yet: the configured token is used
            row.save("5Aep-first", "5Aep-first-2")
        assert row.load("5Aep-first") == "5Aep-first-2"
        with row.locked():  # the user configured another token: the old chain is not used
            assert row.load("5Aep-second") is None
        assert "5Aep" not in repr(row)
        with pytest.raises(StateError, match="only while its row is locked"):
            row.save("5Aep-first", "5Aep-first-3")
        row.forget()
        assert row.load("5Aep-first") is None
    with StateStore.open(tmp_path / "lite") as lite:  # SQLite: one file per destination, as before
        assert isinstance(refresh_token_store(lite, "org"), TokenFile)
