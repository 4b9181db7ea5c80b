"""Browser tests: Playwright drives Debian's Chromium (headless) against the UI served over a real socket,
with the Salesforce emulator on another socket. One browser for the whole session; few, fast tests.

Set ``UI_SCREENSHOTS_DIR`` (e.g. ``docs/screenshots``) to keep screenshots of the main pages there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from sfsync.emulator.server import BackgroundServer
from sfsync.web import UiSettings, create_app
from tests.plugins.emulator import LiveEmulator
from tests.web.conftest import TOKEN, write_project

CHROMIUM = Path("/usr/bin/chromium")
#: Milliseconds Playwright waits for any one element or navigation.
STEP_TIMEOUT_MS = 20_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: scripts/ensure-chromium.sh (run by make test) installs Debian's chromium",
)

try:  # the import itself is cheap; a missing package is reported as a skip with the fix
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="playwright is not installed: pip install -e '.[dev]'")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=STEP_TIMEOUT_MS)  # assertions wait as long as any step (a loaded machine)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


LEADS_SYNC = """\
  leads:
    from: people
    to: org
    object: Lead
    mode: insert
    mappings: {first: LastName, id: Company}
"""


@pytest.fixture
def ui_url(tmp_path: Path, live_emulator: LiveEmulator) -> Iterator[tuple[str, Path]]:
    project = write_project(tmp_path / "project", live_emulator.url)
    # the form creates the sync: start from a project whose only sync is a different one
    text = project.read_text()
    project.write_text(text.replace("  contacts:\n", "  old_contacts:\n"))
    app = create_app(UiSettings(project_file=project, token=TOKEN, poll_ms=200))
    server = BackgroundServer(app).start()
    try:
        yield server.url, project
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser, ui_url: tuple[str, Path]) -> Iterator[Page]:
    context = browser.new_context(base_url=ui_url[0], viewport={"width": 1280, "height": 900})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    directory = os.environ.get("UI_SCREENSHOTS_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def settle(page: Page) -> None:
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")


def choose(page: Page, selector: str, value: str, nth: int = 0) -> None:
    """Pick an option of a select that re-renders the form (htmx) and wait for the new form."""
    with page.expect_response(lambda r: r.url.endswith("/sync-form")):
        page.locator(selector).nth(nth).select_option(value)
    settle(page)


def login(page: Page) -> None:
    page.goto("/syncs")
    expect(page).to_have_url(re.compile(r"/login\?next=/syncs$"))
    page.fill('input[name="token"]', "wrong")
    page.click("button:has-text('Log in')")
    expect(page.get_by_role("alert")).to_have_text("wrong token")
    page.fill('input[name="token"]', TOKEN)
    page.click("button:has-text('Log in')")
    expect(page).to_have_url(re.compile(r"/syncs$"))


def fill_sync_form(page: Page, mappings: list[tuple[str, str]]) -> None:
    page.fill('input[name="name"]', "people_to_contacts")
    choose(page, 'select[name="from"]', "people")
    choose(page, 'select[name="object"]', "Contact")
    expect(page.locator('input[name="mode"][value="upsert"]')).to_be_checked()
    choose(page, 'select[name="oid_column"]', "id")
    oid_options = page.locator('select[name="oid_field"] option').all_inner_texts()
    assert any(o.startswith("External_Id__c") for o in oid_options)
    assert not any(o.startswith(("FirstName", "LastName")) for o in oid_options)
    choose(page, 'select[name="oid_field"]', "External_Id__c")
    for i, (column, field) in enumerate(mappings):
        choose(page, 'select[name="map_column"]', column, nth=i)
        choose(page, 'select[name="map_field"]', field, nth=i)


@pytest.mark.slow
def test_create_a_sync_run_it_and_read_rejected_rows(page: Page, ui_url: tuple[str, Path]) -> None:
    login(page)
    shot(page, "syncs-empty")
    page.click("text=New sync")

    # an invalid pair is shown as such and refused on save
    fill_sync_form(page, [("age", "Email"), ("last", "LastName")])
    expect(page.locator('[data-test="compat"]').first).to_contain_text("integer cannot feed email")
    page.click("button:has-text('Create sync')")
    expect(page.locator('[data-test="problems"]')).to_contain_text("cannot feed field type email")
    shot(page, "sync-form-refused")
    assert "people_to_contacts" not in ui_url[1].read_text()

    # fix the first row, add the other mappings, save
    choose(page, 'select[name="map_column"]', "email", nth=0)
    expect(page.locator('[data-test="compat"]').first).to_contain_text("text → email")
    choose(page, 'select[name="map_column"]', "first", nth=2)
    choose(page, 'select[name="map_field"]', "FirstName", nth=2)
    page.select_option('select[name="schedule_kind"]', "every")
    page.fill('input[name="schedule_value"]', "15m")
    page.fill('input[name="rejected_rows_percent"]', "10")
    shot(page, "sync-form")
    page.click("button:has-text('Create sync')")
    expect(page).to_have_url(re.compile(r"/syncs/people_to_contacts\?saved=1$"))
    expect(page.get_by_role("status")).to_contain_text("Saved to sfsync.yml")
    saved = ui_url[1].read_text()
    assert "people_to_contacts:" in saved and "# keep this comment" in saved

    # run it against the live emulator and follow the job to its run
    page.click("button:has-text('Run now')")
    expect(page.locator('[data-test="job-state"]')).to_have_text("done", timeout=60_000)
    shot(page, "run-job")
    page.click('[data-test="run-link"]')
    expect(page.locator('[data-test="rejected-count"]')).to_have_text("2")
    rows = page.locator("#rejected tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#rejected")).to_contain_text("INVALID_EMAIL_ADDRESS")
    expect(page.locator("#rejected")).to_contain_text("STRING_TOO_LONG")
    shot(page, "run-rejected-rows")
    page.click('a[data-code="STRING_TOO_LONG"]')
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("p4")
    with page.expect_download() as download:
        page.click('[data-test="csv"]')
    csv_text = Path(download.value.path()).read_text()
    assert "p4,upsert" in csv_text.replace('"', "") or "p4" in csv_text
    assert "p3" not in csv_text

    page.goto("/syncs")
    row = page.locator('tr[data-sync="people_to_contacts"]')
    expect(row.locator('[data-test="state"]')).to_have_text("warning")
    shot(page, "syncs")
    page.goto("/syncs/people_to_contacts")
    shot(page, "sync")


@pytest.mark.slow
def test_destinations_models_plan_and_pause(page: Page) -> None:
    login(page)
    page.goto("/destinations")
    page.click("button:has-text('Test connection')")
    expect(page.locator('[data-test="connection-ok"]')).to_be_visible()
    shot(page, "destinations")
    page.goto("/models/people")
    expect(page.locator('[data-test="row-count"]')).to_have_text("4")
    shot(page, "model-preview")
    page.goto("/syncs/old_contacts")
    page.click("button:has-text('Plan (dry run)')")
    expect(page.locator('[data-test="job-state"]')).to_have_text("done", timeout=60_000)
    expect(page.locator("#job")).to_contain_text("Nothing was written")
    shot(page, "plan")
    page.goto("/syncs/old_contacts")
    page.click("button:has-text('Pause')")
    expect(page.locator('[data-test="state"]')).to_have_text("paused")
    expect(page.locator("button:has-text('Run now')")).to_be_disabled()
    page.click("button:has-text('Resume')")
    expect(page.locator('[data-test="state"]')).to_have_text("never run")


def _bulk_and_leads(project: Path) -> None:
    """old_contacts goes through Bulk (its jobs show live); a Lead insert sync for the full resync."""
    text = project.read_text().replace(
        "    schedule: {every: 15m}\n", "    schedule: {every: 15m}\n    api: bulk\n", 1
    )
    project.write_text(text.replace("# trailing comment", LEADS_SYNC + "# trailing comment"))


def test_live_progress_then_the_history_chart(
    page: Page, ui_url: tuple[str, Path], live_emulator: LiveEmulator
) -> None:
    _bulk_and_leads(ui_url[1])
    live_emulator.set_faults(bulk_delay_seconds=8)  # the Bulk job stays InProgress a while
    login(page)
    page.goto("/syncs/old_contacts")
    expect(page.locator('[data-test="chart-empty"]')).to_be_visible()
    page.click("button:has-text('Run now')")
    # the job page follows the run without reloading: phases, rows, the Bulk job and its state
    expect(page.locator('[data-test="progress"][data-phase="collecting"]')).to_be_visible()
    expect(page.locator('[data-test="phase"]')).to_have_text("collecting")
    expect(page.locator('[data-test="bulk-jobs"]')).to_contain_text("InProgress")
    expect(page.locator('[data-test="to-send"]')).to_have_text("4")
    shot(page, "live-progress")
    # the sync page shows the same run live, and reloads itself with the new run once it ends
    page.goto("/syncs/old_contacts")
    expect(page.locator('#live [data-test="live-state"]')).to_have_text("running")
    expect(page.locator("#live [data-test=bulk-jobs]")).to_be_visible()
    expect(page.locator('[data-test="history-chart"]')).to_be_visible(timeout=60_000)
    expect(page.locator("h1 [data-test=state]")).to_have_text("warning")
    expect(page.locator("#live [data-test=reason]")).to_contain_text("rejected (2 of 4)")
    live_emulator.set_faults(bulk_delay_seconds=0)
    # two more runs (the second one fixes a row), then the chart has three bars and a trend on /syncs
    with duckdb.connect(str(ui_url[1].parent / "wh.duckdb")) as con:
        con.execute("update people set email = 'grace@example.com' where id = 'p3'")
    for _ in range(2):
        page.click("button:has-text('Run now')")
        expect(page.locator('[data-test="job-state"]')).to_have_text("done", timeout=60_000)
        page.goto("/syncs/old_contacts")
    bars = page.locator('[data-test="history-chart"] a')
    expect(bars).to_have_count(3)
    expect(bars.nth(0)).to_have_attribute("data-status", "partial")
    expect(page.locator("table [data-test=status]").first).to_have_text("partial")
    shot(page, "history-chart")
    bars.nth(1).click()
    expect(page).to_have_url(re.compile(r"/runs/2$"))
    page.goto("/syncs")
    expect(page.locator('tr[data-sync="old_contacts"] [data-test="sparkline"]')).to_have_attribute(
        "data-runs", "3"
    )
    expect(page.locator('tr[data-sync="old_contacts"] [data-test="reason"]')).to_contain_text(
        "STRING_TOO_LONG"
    )
    shot(page, "syncs")


def test_the_row_debugger(page: Page, ui_url: tuple[str, Path]) -> None:
    login(page)
    page.goto("/syncs/old_contacts")
    page.click("button:has-text('Run now')")
    expect(page.locator('[data-test="job-state"]')).to_have_text("done", timeout=60_000)
    with duckdb.connect(str(ui_url[1].parent / "wh.duckdb")) as con:
        con.execute("update people set email = 'grace@example.com' where id = 'p3'")
    page.goto("/syncs/old_contacts")
    page.click("button:has-text('Run now')")
    expect(page.locator('[data-test="job-state"]')).to_have_text("done", timeout=60_000)
    page.goto("/syncs/old_contacts")
    page.click("a:has-text('Rows')")
    expect(page.locator('[data-test="row-total"]')).to_contain_text("6 row results")
    page.fill('[data-test="row-search"]', "email")
    page.select_option('select[name="outcome"]', "rejected")
    page.click("button:has-text('Search')")
    expect(page.locator("#rows tbody tr")).to_have_count(1)
    expect(page.locator("#rows tbody tr").first).to_contain_text("INVALID_EMAIL_ADDRESS")
    page.select_option('select[name="outcome"]', "all")
    page.fill('[data-test="row-search"]', "")
    page.click("button:has-text('Search')")
    page.click('a[data-sort="key"]')
    expect(page).to_have_url(re.compile(r"sort=key"))
    keys = page.locator("#rows tbody tr td:nth-child(2)").all_inner_texts()
    assert keys == sorted(keys, reverse=True), keys
    page.click('a[data-sort="key"]')
    keys = page.locator("#rows tbody tr td:nth-child(2)").all_inner_texts()
    assert keys == sorted(keys), keys
    shot(page, "row-debugger")
    page.click('#rows tr[data-key="p3"][data-run="2"] [data-test="row-link"]')
    expect(page).to_have_url(re.compile(r"/syncs/old_contacts/rows/p3$"))
    runs = page.locator("section.row-run")
    expect(runs).to_have_count(2)
    expect(runs.nth(0).locator('[data-test="row-outcome"]')).to_contain_text("created")
    link = runs.nth(0).locator('[data-test="record-link"]')
    expect(link).to_have_attribute("href", re.compile(r"/lightning/r/Contact/003\w+/view$"))
    expect(runs.nth(0).locator('tr[data-field="Email"]')).to_contain_text("grace@example.com")
    expect(runs.nth(1).locator('[data-test="row-outcome"]')).to_contain_text("INVALID_EMAIL_ADDRESS")
    expect(runs.nth(1).locator('tr[data-field="Email"]')).to_contain_text("not-an-email")
    shot(page, "row-story")


def test_a_full_resync_of_an_insert_sync_asks_first(
    page: Page, ui_url: tuple[str, Path], live_emulator: LiveEmulator
) -> None:
    _bulk_and_leads(ui_url[1])
    login(page)
    page.goto("/syncs/leads")
    page.click("button:has-text('Run now')")
    expect(page.locator('[data-test="job-state"]')).to_have_text("done", timeout=60_000)
    assert live_emulator.org.query("SELECT COUNT() FROM Lead").total_size == 4
    page.goto("/syncs/leads")
    page.click('[data-test="full-resync"]')
    expect(page.locator('[data-test="resync-warning"]')).to_contain_text("every one of its 4 rows")
    expect(page.locator('[data-test="resync-warning"]')).to_contain_text("earlier runs created 4 records")
    shot(page, "full-resync")
    page.click('[data-test="start-resync"]')  # not confirmed: the browser refuses to send the form
    expect(page).to_have_url(re.compile(r"/syncs/leads/full-resync$"))
    assert live_emulator.org.query("SELECT COUNT() FROM Lead").total_size == 4
    page.check('[data-test="confirm"]')
    page.click('[data-test="start-resync"]')
    expect(page.locator('[data-test="job-state"]')).to_have_text("done", timeout=60_000)
    assert live_emulator.org.query("SELECT COUNT() FROM Lead").total_size == 8
