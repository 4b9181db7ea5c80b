"""The public surface of sfsync.state and the diff modules is explicit and importable."""

from __future__ import annotations

import sfsync.state
import sfsync.sync.diff
import sfsync.sync.snapshot


def test_public_names_resolve() -> None:
    for module in (sfsync.state, sfsync.sync.diff, sfsync.sync.snapshot):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"
    assert {"StateStore", "RunRecord", "RowResult", "JournalEntry", "SyncStatus", "SyncBusyError"} <= set(
        sfsync.state.__all__
    )
    assert {"compute_diff", "DiffResult", "DiffSettings"} <= set(sfsync.sync.diff.__all__)
    assert sfsync.sync.snapshot.__all__ == ["AcceptedKeys", "advance_snapshot"]
