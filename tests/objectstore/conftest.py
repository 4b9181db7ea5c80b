"""Fixtures of the object storage tests: a local S3 server (``server.py``) for the session, a fresh
bucket per test; tests are skipped, with the reason, only when moto is not installed (``make test``
installs it with the ``dev`` extra)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.objectstore.server import S3Server, start


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
def schema(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for the workers' state, dropped afterwards."""
    name = f"s3_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
