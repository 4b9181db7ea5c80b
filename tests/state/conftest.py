"""The state tests run against both backends: SQLite (a file) and PostgreSQL (the throwaway cluster of
``tests/plugins/postgres.py``, one fresh schema per test): ``backend`` is parametrized, ``open_store``
opens a store on it (see ``backends.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sfsync.state import StateStore
from tests.state.backends import Backend


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite")
        return
    url = str(request.getfixturevalue("postgres_url"))
    yield Backend("postgresql", url, str(request.getfixturevalue("pg_schema")))


@pytest.fixture
def open_store(backend: Backend) -> Callable[..., StateStore]:
    return backend.open
