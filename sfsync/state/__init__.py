"""The state store: run history, per-row results, run journal, per-sync status, snapshots and run locks.

Open it with :meth:`StateStore.open` (a directory, ``.sfsync/`` beside the project by default: see
:func:`default_state_dir`). Snapshots are reached through ``store.snapshots``; the diff engine in
``sfsync.sync.diff`` reads and advances them.
"""

from __future__ import annotations

from sfsync.state.lock import LockOwner, RunLock, SyncBusyError
from sfsync.state.records import (
    BulkJobProgress,
    JournalEntry,
    JournalState,
    RowResult,
    RunCounts,
    RunPhase,
    RunProgress,
    RunRecord,
    RunStatus,
    SyncStatus,
    Trigger,
    finished_status,
)
from sfsync.state.snapshots import PendingSnapshot, SnapshotInfo, SnapshotStore, check_sync_name
from sfsync.state.store import STATE_DIR_NAME, StatePaths, StateSettings, StateStore, default_state_dir
from sfsync.state.tokens import TokenFile

__all__ = [
    "STATE_DIR_NAME",
    "BulkJobProgress",
    "JournalEntry",
    "JournalState",
    "LockOwner",
    "PendingSnapshot",
    "RowResult",
    "RunCounts",
    "RunLock",
    "RunPhase",
    "RunProgress",
    "RunRecord",
    "RunStatus",
    "SnapshotInfo",
    "SnapshotStore",
    "StatePaths",
    "StateSettings",
    "StateStore",
    "SyncBusyError",
    "SyncStatus",
    "TokenFile",
    "Trigger",
    "check_sync_name",
    "default_state_dir",
    "finished_status",
]
