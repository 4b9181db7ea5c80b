"""The Python API for embedding sfsync: ``sfsync.Project.load("sfsync.yml").run("sync_name")``.

A thin facade over the project file, the state store and the sync engine; it is what the CLI, the
scheduler and the web UI use too, so embedding code gets the same guarantees (locks, crash recovery,
row results, snapshots).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import httpx

from sfsync.alerts import WarningTracker
from sfsync.config import DEFAULT_PROJECT_FILE, load_project
from sfsync.config import Project as ProjectConfig
from sfsync.errors import SfsyncError
from sfsync.schedule import describe_status, handle_run_end
from sfsync.state import RunRecord, StateStore, default_state_dir
from sfsync.sync.engine import Progress, RunOptions, RunResult, SyncSession
from sfsync.sync.plan import Plan


class Project:
    """A loaded project with its state store, ready to plan and run syncs."""

    def __init__(
        self,
        config: ProjectConfig,
        store: StateStore,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.session = SyncSession(config, store, transport=transport)
        self._tracker: WarningTracker | None = None

    @classmethod
    def load(
        cls,
        path: str | Path = DEFAULT_PROJECT_FILE,
        *,
        state_dir: str | Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> Project:
        """Load ``sfsync.yml`` (or the one in a directory) and open its state (``.sfsync/`` beside it)."""
        config = load_project(path)
        file = config.path or Path(path)
        store = StateStore.open(Path(state_dir) if state_dir else default_state_dir(file))
        return cls(config, store, transport=transport)

    @property
    def syncs(self) -> list[str]:
        return list(self.config.syncs)

    def run(
        self,
        sync: str,
        *,
        full_resync: bool = False,
        api: str | None = None,
        trigger: str = "api",
        progress: Progress | None = None,
        warn: bool = True,
    ) -> RunResult:
        """Run one sync now and return what it did (raises ``SfsyncError`` when the run fails as a whole).

        With ``warn`` (the default) the run is judged like a scheduled one: the sync's warnings are
        evaluated and notified, and a sync whose source, model or org is broken pauses itself.
        """
        options = RunOptions(full_resync=full_resync, api=api, trigger=trigger, progress=progress)
        try:
            result = self.session.run(sync, options)
        except SfsyncError as exc:
            if warn:
                handle_run_end(self.store, self._warnings(), sync, exc.run_id, exc)
            raise
        if warn:
            handle_run_end(self.store, self._warnings(), sync, result.run_id, None)
        return result

    def _warnings(self) -> WarningTracker:
        if self._tracker is None:
            self._tracker = WarningTracker(self.config, self.store)
        return self._tracker

    def status(self, sync: str) -> str:
        """``active``, or paused (by whom, since when, why), and the warnings firing."""
        return describe_status(self.store, sync)

    def plan(self, sync: str, *, full_resync: bool = False, api: str | None = None) -> Plan:
        """What a run would do, without writing anything to Salesforce."""
        return self.session.plan(sync, RunOptions(full_resync=full_resync, api=api))

    def runs(self, sync: str | None = None, limit: int = 50) -> list[RunRecord]:
        return self.store.runs(sync, limit)

    def close(self) -> None:
        self.session.close()
        self.store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["Project", "RunResult"]
