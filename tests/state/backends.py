"""State backends for tests: SQLite (a file) or a PostgreSQL schema (see ``conftest.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sfsync.state import StateSettings, StateStore


@dataclass(frozen=True)
class Backend:
    """Where a test's state database is: SQLite (url None) or a PostgreSQL schema."""

    name: str
    url: str | None = None
    schema: str = "public"

    def open(self, directory: Path, settings: StateSettings | None = None) -> StateStore:
        if self.url is None:
            return StateStore.open(directory, settings)
        return StateStore.open(directory, settings, url=self.url, schema=self.schema)

    def argv(self) -> list[str]:
        """``[url, schema]`` for a child process (``-`` for SQLite)."""
        return [self.url or "-", self.schema]


OPEN_IN_CHILD = (
    "def open_store(state, url, schema, **kw):\n"
    "    from sfsync.state import StateStore\n"
    "    if url == '-':\n"
    "        return StateStore.open(state, **kw)\n"
    "    return StateStore.open(state, url=url, schema=schema, **kw)\n"
)
"""Source of ``open_store(state, url, schema)`` for child processes given :meth:`Backend.argv`."""
