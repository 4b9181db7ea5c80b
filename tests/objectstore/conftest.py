"""Fixtures of the object storage tests: a local S3 server (``server.py``) for the session, a fresh
bucket per test; tests are skipped, with the reason, only when moto is not installed (``make test``
installs it with the ``dev`` extra); ``s3_workers`` writes two workers of one project whose state files
are in that bucket (their PostgreSQL schema is ``pg_schema``, ``tests/plugins/postgres.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.objectstore.helpers import ROWS, S3WorkersFactory, s3_files
from tests.objectstore.server import Key, S3Server, start
from tests.plugins.emulator import LiveEmulator
from tests.plugins.projects import CONTACTS_UPSERT
from tests.plugins.workers import SharedState, Workers, shared_workers

#: The workers' run lease, short: a killed worker's lease runs out within the test.
LEASE_SECONDS = 2
LEASE_HEARTBEAT_SECONDS = 0.5


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    pytest.importorskip("moto.server", reason="moto[server] is in the dev extra: `make test` installs it")
    server = start()
    try:
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except Exception:
            server.process.kill()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
def s3_workers(
    tmp_path: Path,
    live_emulator: LiveEmulator,
    postgres_url: str,
    pg_schema: str,
    s3_server: S3Server,
    bucket: str,
) -> S3WorkersFactory:
    """``s3_workers(key=None, syncs=CONTACTS_UPSERT)``: two workers ``a`` and ``b`` of one project against
    the live emulator, sharing the PostgreSQL state (``pg_schema``) and its files in ``bucket`` under
    ``prod/``, signed with ``key`` (the server's administrator by default); both read one warehouse of
    ``ROWS`` people (``tests/plugins/workers.py``)."""

    def make(key: Key | None = None, syncs: str = CONTACTS_UPSERT) -> Workers:
        files = s3_files(s3_server, bucket, key or s3_server.admin)
        state = SharedState(
            postgres_url,
            pg_schema,
            files,
            lease_seconds=LEASE_SECONDS,
            lease_heartbeat_seconds=LEASE_HEARTBEAT_SECONDS,
        )
        return shared_workers(tmp_path, live_emulator.url, syncs, state, rows=ROWS)

    return make
