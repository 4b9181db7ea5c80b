"""Fixtures of the scheduler tests: a project on a DuckDB warehouse syncing into the in-process emulator."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sfsync import api
from sfsync.config import Project
from sfsync.schedule import Scheduler, SchedulerSettings
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
        self._facades: list[api.Project] = []
        self.project: Project | None = None

    @property
    def store(self) -> StateStore:
        if self._store is None:
            self._store = StateStore.open(default_state_dir(self.factory.root / "sfsync.yml"))
        return self._store

    def facade(
        self, project: Project | None = None, *, transport: httpx.BaseTransport | None = None
    ) -> api.Project:
        """The facade on ``project`` (default: the project file now) with the harness's state store."""
        facade = api.Project(
            project or self.factory.load(),
            self.store,
            transport=transport or self.emulator.transport,
            owns=False,
        )
        self._facades.append(facade)
        return facade

    def scheduler(
        self, settings: SchedulerSettings = FAST, *, transport: httpx.BaseTransport | None = None
    ) -> Scheduler:
        self.project = self.factory.load()
        sched = Scheduler(self.facade(self.project, transport=transport), settings=settings)
        self._schedulers.append(sched)
        return sched

    def close(self) -> None:
        for sched in self._schedulers:
            sched.close()
        for facade in self._facades:
            facade.orgs.close()
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
