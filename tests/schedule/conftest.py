"""Fixtures of the scheduler tests: a project on a DuckDB warehouse syncing into the in-process emulator."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sfsync.config import Project
from sfsync.schedule import Scheduler, SchedulerSettings, default_session_factory
from sfsync.state import StateStore, default_state_dir
from tests.plugins.emulator import InProcessEmulator
from tests.schedule.helpers import ProjectFactory, make_people

FAST = SchedulerSettings(max_parallel=2, poll_seconds=0.05, recheck_seconds=0)
"""Test settings: re-check a self-paused sync at every tick."""


class Harness:
    """Builds schedulers on one project and state store; everything is closed at teardown."""

    def __init__(self, factory: ProjectFactory, emulator: InProcessEmulator) -> None:
        self.factory = factory
        self.emulator = emulator
        self._store: StateStore | None = None
        self._schedulers: list[Scheduler] = []
        self.project: Project | None = None

    @property
    def store(self) -> StateStore:
        if self._store is None:
            self._store = StateStore.open(default_state_dir(self.factory.root / "sfsync.yml"))
        return self._store

    def scheduler(
        self, settings: SchedulerSettings = FAST, *, transport: httpx.BaseTransport | None = None
    ) -> Scheduler:
        self.project = self.factory.load()
        sessions = default_session_factory(
            self.project, self.store, transport=transport or self.emulator.transport
        )
        sched = Scheduler(self.project, self.store, settings=settings, session_factory=sessions)
        self._schedulers.append(sched)
        return sched

    def close(self) -> None:
        for sched in self._schedulers:
            sched.close()
        if self._store is not None:
            self._store.close()


@pytest.fixture
def factory(tmp_path_factory: pytest.TempPathFactory) -> ProjectFactory:
    f = ProjectFactory(tmp_path_factory.mktemp("project"))
    make_people(f.warehouse, 6)
    return f


@pytest.fixture
def harness(factory: ProjectFactory, emulator: InProcessEmulator) -> Iterator[Harness]:
    h = Harness(factory, emulator)
    try:
        yield h
    finally:
        h.close()
