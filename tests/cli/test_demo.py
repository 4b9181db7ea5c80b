"""`sfsync demo` (what `make demo` runs) works end to end and leaves an explorable project behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sfsync.state import StateStore


@pytest.mark.slow
def test_demo_runs_every_sync_twice_and_sends_only_changes(tmp_path: Path) -> None:
    where = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "sfsync", "demo", str(where), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Round 2" in done.stdout and "INVALID_EMAIL_ADDRESS" in done.stdout and "NOT_FOUND" in done.stdout

    store = StateStore.open(where / ".sfsync")
    try:
        runs = sorted(store.runs(limit=100), key=lambda r: r.id)
        by_sync: dict[str, list] = {}
        for r in runs:
            by_sync.setdefault(r.sync, []).append(r)
        assert set(by_sync) == {
            "companies_to_accounts",
            "people_to_contacts",
            "contact_mobile_phones",
            "french_leads",
        }
        assert all(len(v) == 3 and all(r.status.value == "succeeded" for r in v) for v in by_sync.values())
        first, second, third = by_sync["people_to_contacts"]
        assert first.counts.created > 2500 and first.counts.rejected == 3  # three invalid e-mails
        assert second.counts.created == 5 and second.counts.updated == 3  # fixed e-mails + newcomers, titles
        assert third.counts.api_calls == 0 and third.counts.unchanged == third.counts.rows_read
        accounts = by_sync["companies_to_accounts"]
        assert accounts[0].counts.created == 600 and accounts[1].counts.updated == 2
    finally:
        store.close()
