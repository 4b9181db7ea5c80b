"""`sfsync demo` (what `make demo` runs) works end to end and leaves an explorable project behind."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sfsync.state import RunRecord, StateStore


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
    out = " ".join(done.stdout.split())
    # related records, read back from the org: Contracts linked to Accounts, Cases to Contacts and Accounts
    assert (
        "Contracts linked to their Accounts" in out and "Cases linked to their Contacts and Accounts" in out
    )
    assert "Contracts with an Account: 300" in out and "Cases with a Contact and an Account: 375" in out
    assert "PARENT_REJECTED" in out and "rejected earlier in this run by sync 'people_to_contacts'" in out
    assert "Foreign key external ID:" in out  # tickets of people who are no Contact (no e-mail)

    store = StateStore.open(where / ".sfsync")
    try:
        runs = sorted(store.runs(limit=100), key=lambda r: r.id)
        by_sync: dict[str, list[RunRecord]] = {}
        for r in runs:
            by_sync.setdefault(r.sync, []).append(r)
        assert set(by_sync) == {
            "companies_to_accounts",
            "people_to_contacts",
            "contact_mobile_phones",
            "french_leads",
            "contracts_to_contracts",
            "tickets_to_cases",
        }
        # runs that rejected rows are partial, the others succeeded; none failed
        statuses = {r.status.value for v in by_sync.values() for r in v}
        assert all(len(v) == 3 for v in by_sync.values()) and statuses == {"succeeded", "partial"}
        assert by_sync["companies_to_accounts"][0].status.value == "succeeded"
        assert by_sync["people_to_contacts"][0].status.value == "partial"
        first, second, third = by_sync["people_to_contacts"]
        assert first.counts.created > 2500 and first.counts.rejected == 3  # three invalid e-mails
        assert second.counts.created == 5 and second.counts.updated == 3  # fixed e-mails + newcomers, titles
        assert third.counts.api_calls == 0 and third.counts.unchanged == third.counts.rows_read
        accounts = by_sync["companies_to_accounts"]
        assert accounts[0].counts.created == 600 and accounts[1].counts.updated == 2
        # parents run first: every Account exists before its Contacts, Contracts and Cases are sent
        assert accounts[0].id < first.id < by_sync["contracts_to_contracts"][0].id
        assert first.id < by_sync["tickets_to_cases"][0].id
        assert by_sync["contracts_to_contracts"][0].counts.created == 300
        cases = by_sync["tickets_to_cases"]
        assert cases[0].counts.created == 375 and cases[0].counts.rejected == 25
        assert cases[1].counts.created == 3  # their Contacts exist once the e-mails are fixed
        assert cases[2].counts.created == 0 and cases[2].counts.rejected == 22  # people who are no Contact
        mobile_rejected = by_sync["contact_mobile_phones"][-1].counts.rejected
    finally:
        store.close()
    _closing_hints_work_as_printed(where, done.stdout, mobile_rejected)


def _closing_hints_work_as_printed(where: Path, printed: str, mobile_rejected: int) -> None:
    """The demo stopped its org; the commands it printed find the runs, a row, and the org's records."""
    lines = [line.strip() for line in printed.splitlines()]
    show_row = next(line for line in lines if line.startswith("sfsync show-row "))
    start = next(line for line in lines if line.startswith("sfsync emulator --port "))
    sfsync = [sys.executable, "-m", "sfsync"]
    row = subprocess.run(
        [*sfsync, *show_row.split("#")[0].split()[1:], "--json"],
        capture_output=True,
        text=True,
        cwd=where,
        timeout=120,
    )
    assert row.returncode == 0, row.stderr
    assert json.loads(row.stdout)["runs"][-1]["error_code"] == "INVALID_EMAIL_ADDRESS"
    org = subprocess.Popen(
        [*sfsync, *start.split()[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{start.split()[3]}/services/data"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        planned = subprocess.run(
            [*sfsync, "plan", "contact_mobile_phones", "--json"],
            capture_output=True,
            text=True,
            cwd=where,
            timeout=120,
        )
        assert planned.returncode == 0, planned.stderr
        # the restarted org kept its Contacts: the same rows as before find no record, no more
        assert json.loads(planned.stdout)["refused"] == mobile_rejected
    finally:
        org.terminate()
        org.wait(timeout=30)
