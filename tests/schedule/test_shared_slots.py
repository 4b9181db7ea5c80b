"""Two schedulers on one PostgreSQL state store, with controlled time: each slot is run by one of them,
and a sync running on the other worker stays due until that run ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sfsync import api
from sfsync.schedule import Action, Scheduler, next_run_at
from sfsync.state import StateStore
from tests.plugins.emulator import InProcessEmulator
from tests.schedule.conftest import FAST
from tests.schedule.helpers import ProjectFactory


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def stores(tmp_path: Path, postgres_url: str, pg_schema: str) -> Iterator[tuple[StateStore, StateStore]]:
    a = StateStore.open(tmp_path / "a", url=postgres_url, schema=pg_schema)
    b = StateStore.open(tmp_path / "b", url=postgres_url, schema=pg_schema)
    yield a, b
    a.close()
    b.close()


def test_each_slot_runs_on_one_worker_and_a_sync_running_elsewhere_stays_due(
    factory: ProjectFactory, emulator: InProcessEmulator, stores: tuple[StateStore, StateStore]
) -> None:
    store_a, store_b = stores
    factory.add_sync(schedule="{every: 15m}")
    project = factory.load()
    schedulers = [
        Scheduler(api.Project(project, s, transport=emulator.transport, owns=False), settings=FAST)
        for s in (store_a, store_b)
    ]
    first, second = schedulers
    try:
        assert [d.action for d in first.tick(t("2026-01-05 10:07"))] == [Action.FIRST_SEEN]
        assert [d.action for d in second.tick(t("2026-01-05 10:08"))] == [Action.NOT_DUE]  # shared slots
        # 10:15 is run by the first scheduler that comes to it; the other finds it dealt with
        # (two that come at the same moment: only one gets the claim, see tests/state/test_pgschema.py)
        ran = first.tick(t("2026-01-05 10:15"))
        other = second.tick(t("2026-01-05 10:15:01"))
        assert [d.action for d in ran] == [Action.RUN]
        assert [(d.action, d.slot) for d in other] == [(Action.NOT_DUE, t("2026-01-05 10:30"))]
        first.wait_idle(30)
        assert len(store_b.runs("contacts")) == 1
        schedule = project.syncs["contacts"].schedule
        assert next_run_at(store_b, "contacts", schedule, t("2026-01-05 10:20")) == t("2026-01-05 10:30")

        # while a run of the sync holds its lease (another worker), the slot stays due, unclaimed
        lease = store_a.lock("contacts").acquire()
        try:
            busy = second.tick(t("2026-01-05 10:30"))
            assert [d.action for d in busy] == [Action.SKIP_RUNNING]
            assert "running on another worker" in busy[0].detail
        finally:
            lease.release()
        after = second.tick(t("2026-01-05 10:31"))
        assert [(d.action, d.slot) for d in after] == [(Action.RUN, t("2026-01-05 10:30"))]
        second.wait_idle(30)
        runs = store_a.runs("contacts")
        assert len(runs) == 2 and {r.status.value for r in runs} == {"succeeded"}
    finally:
        for s in schedulers:
            s.close()
