"""The PostgreSQL state store: its migrations against SQLite's, concurrent first opens, secrets, leases."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sfsync.errors import LeaseLostError, StateError, SyncBusyError
from sfsync.state import StateSettings, StateStore
from sfsync.state.pgschema import PG_MIGRATIONS
from sfsync.state.schema import MIGRATIONS


def test_every_sqlite_migration_has_its_postgresql_form() -> None:
    # Migration N is the same step on both backends: add a new one to both lists, with the same number.
    assert len(PG_MIGRATIONS) == len(MIGRATIONS)


def test_workers_opening_a_new_schema_at_once_migrate_it_once(
    tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    errors: list[BaseException] = []

    def open_one(n: int) -> None:
        try:
            with StateStore.open(tmp_path / f"w{n}", url=postgres_url, schema=pg_schema) as store:
                store.start_run(f"s{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with StateStore.open(tmp_path / "w9", url=postgres_url, schema=pg_schema) as store:
        assert sorted(r.sync for r in store.runs()) == ["s0", "s1", "s2", "s3"]
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(sql.SQL("SELECT version FROM {}.sfsync_schema").format(sql.Identifier(pg_schema)))
        assert rows.fetchall() == [(len(PG_MIGRATIONS),)]
        conn.execute(sql.SQL("UPDATE {}.sfsync_schema SET version = 99").format(sql.Identifier(pg_schema)))
    with pytest.raises(StateError, match="version 99, newer than this sfsync"):
        StateStore.open(tmp_path / "w9", url=postgres_url, schema=pg_schema)


def test_a_refused_connection_never_shows_the_password(tmp_path: Path, postgres_url: str) -> None:
    port = postgres_url.rsplit(":", 1)[1].split("/")[0]
    bad = f"postgresql://nobody_here:s3cret-pw@127.0.0.1:{port}/no_such_db"
    with pytest.raises(StateError) as caught:
        StateStore.open(tmp_path, url=bad)
    text = f"{caught.value.message} {caught.value}"
    assert "s3cret-pw" not in text and "127.0.0.1" in text
    with pytest.raises(StateError, match="not a PostgreSQL URL"):
        StateStore.open(tmp_path, url="mysql://u:p@h/db")


def test_a_lease_is_renewed_while_held_and_a_lost_lease_is_noticed(
    tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    settings = StateSettings(lease_seconds=1.0, lease_heartbeat_seconds=0.2)
    with StateStore.open(tmp_path, settings, url=postgres_url, schema=pg_schema) as store:
        lease = store.lock("contacts").acquire()
        time.sleep(2.5)  # more than two lease terms: the heartbeat keeps it
        other = StateStore.open(tmp_path / "other", settings, url=postgres_url, schema=pg_schema)
        try:
            with pytest.raises(SyncBusyError, match="already running"):
                other.lock("contacts").acquire()
            assert not lease.lost
            # the row is taken away (as if this worker had been cut off past its expiry)
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DELETE FROM {}.leases").format(sql.Identifier(pg_schema)))
            with other.lock("contacts") as taken:
                deadline = time.monotonic() + 5
                while not lease.lost and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert lease.lost
                assert taken.held
                owner = other.lock_owner("contacts")
                assert owner is not None
            with pytest.raises(LeaseLostError, match="another worker took it over") as lost:
                lease.check()
            assert lost.value.taken_over
            lease.release()  # releasing a lost lease leaves the new holder's row alone
        finally:
            other.close()


def test_a_lease_the_heartbeat_cannot_renew_is_lost_at_its_deadline_even_if_nobody_takes_it(
    tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    settings = StateSettings(lease_seconds=1.0, lease_heartbeat_seconds=0.2)
    with StateStore.open(tmp_path, settings, url=postgres_url, schema=pg_schema) as store:
        lease = store.lock("contacts")
        with lease:
            lease.check()  # held: nothing to say
            # another session holds the lease's row: the heartbeat's renewal waits (a stalled server)
            with psycopg.connect(postgres_url) as blocker:
                blocker.execute(
                    sql.SQL("SELECT 1 FROM {}.leases WHERE sync = 'contacts' FOR UPDATE").format(
                        sql.Identifier(pg_schema)
                    )
                )
                deadline = time.monotonic() + 10
                while not lease.lost and time.monotonic() < deadline:
                    try:
                        lease.check()
                    except LeaseLostError:
                        break
                    time.sleep(0.05)
                with pytest.raises(LeaseLostError, match="could not renew it for 1 s") as lost:
                    lease.check()
                assert not lost.value.taken_over
                blocker.rollback()  # the server answers again: the renewal that was waiting goes through
            time.sleep(0.5)
            with pytest.raises(LeaseLostError):  # lost stays lost: the run has stopped already
                lease.check()


def test_of_workers_claiming_a_slot_at_once_exactly_one_gets_it(
    tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    from datetime import UTC, datetime, timedelta

    from sfsync.state.slots import claim_slot, give_back_slot, read_slot, record_slot

    stores = [StateStore.open(tmp_path / f"w{n}", url=postgres_url, schema=pg_schema) for n in range(4)]
    try:
        start = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
        record_slot(stores[0].db, "contacts", start, "fp")
        slot = start + timedelta(minutes=15)
        got: list[datetime | None] = [None] * 4

        def claim(n: int) -> None:
            got[n] = claim_slot(stores[n].db, "contacts", slot, "fp")

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [g for g in got if g is not None] == [start]  # one winner, told the slot before
        # a slot never moves back, except when the winner gives its claim back
        assert not record_slot(stores[1].db, "contacts", start, "fp")
        assert give_back_slot(stores[2].db, "contacts", slot, start)
        record = read_slot(stores[3].db, "contacts")
        assert record is not None and record.last_fire == start
        assert claim_slot(stores[3].db, "contacts", slot, "fp") == start
        assert claim_slot(stores[0].db, "contacts", slot, "other schedule") is None
    finally:
        for s in stores:
            s.close()
