"""State that cannot be written mid-run (issue 12, item 3): a full disk, a permission refused.

Both are real: the state directory is a small tmpfs filled up mid-run (needs the right to mount, as root
in CI), or its folders stop accepting new files mid-run (``chattr +i`` as root, where mode bits do not
bind; ``chmod a-w`` otherwise). The fault starts right after the first rows' results were stored.
The run must stop sending at the first failed write, say why in plain words (not "move the file away if
corrupt"), and the next run, once the cause is fixed, must neither lose nor repeat a row.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from sfsync.errors import StateError
from sfsync.state import RunStatus
from sfsync.sync.engine import RunOptions, SyncSession
from sfsync.sync.progress import ProgressEvent, Sent
from tests.plugins.emulator import InProcessEmulator
from tests.sync.test_engine_runs import _contacts, _session

#: Rows per API: REST sends 2,000 in ten collections calls; Bulk needs more than 1 MB of CSV (the
#: smallest job size) for several jobs.
ROWS = {"rest": 2000, "bulk": 40_000}
#: Each call to the in-process org takes at least this long, as over a network: without it, the calls
#: of a run outrun the test's fault (the org answers in microseconds, the fault takes milliseconds).
CALL_SECONDS = 0.02


class _Slow(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        time.sleep(CALL_SECONDS)
        return self._inner.handle_request(request)


def _slow_session(tmp_path: Path, emulator: InProcessEmulator, api: str) -> SyncSession:
    made = _session(
        tmp_path,
        emulator,
        _rows(api),
        mode="insert",
        api=api,
        settings={"max_concurrency": 2, "bulk_max_bytes": 1_000_000},
    )
    made.close()
    return SyncSession(made.project, made.store, transport=_Slow(emulator.transport))


def _rows(api: str) -> str:
    pad = "" if api == "rest" else " || ' ' || repeat('x', 60)"
    return (
        f"SELECT 'p' || i AS id, 'Last ' || i{pad} AS last, 'p' || i || '@example.com' AS email"
        f" FROM range({ROWS[api]}) t(i)"
    )


def _fill(directory: Path) -> Path:
    """Write zeros until the file system holding ``directory`` is full; the filler file."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * size)
    return filler


def _deny(directory: Path) -> Callable[[], None]:
    """Make every folder under ``directory`` refuse new files; the function that undoes it."""
    folders = [directory, *(p for p in directory.rglob("*") if p.is_dir())]
    root = os.geteuid() == 0  # root ignores mode bits: the immutable attribute binds root too
    if root:
        subprocess.run(["chattr", "+i", *map(str, folders)], check=True)
    else:
        for folder in folders:
            folder.chmod(0o500)

    def undo() -> None:
        if root:
            subprocess.run(["chattr", "-i", *map(str, folders)], check=True)
        else:
            for folder in folders:
                folder.chmod(0o700)

    return undo


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/.sfsync`` on its own 48 MB tmpfs."""
    state = tmp_path / ".sfsync"
    state.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small file system")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(state)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.decode().strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def _fault_after_first_results(start: Callable[[], None]) -> Callable[[ProgressEvent], None]:
    fired: list[bool] = []

    def progress(event: ProgressEvent) -> None:
        if isinstance(event, Sent) and not fired:
            fired.append(True)
            start()

    return progress


def _written(emulator: InProcessEmulator) -> int:
    """Records in the org once the Bulk jobs already closed are processed (the org finishes them; a call
    a worker had on the wire when the run stopped lands within a few of ``CALL_SECONDS``)."""
    time.sleep(10 * CALL_SECONDS)
    deadline = time.monotonic() + 60
    while any(j.state in ("UploadComplete", "InProgress") for j in emulator.runtime.ingest.all()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return len(_contacts(emulator))


def _check_the_rerun(session: SyncSession, emulator: InProcessEmulator, tmp_path: Path, written: int) -> None:
    again = session.run("people")
    assert again.status == "succeeded", again
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        want = Counter(r[0] for r in con.execute("SELECT last FROM people").fetchall())
    assert Counter(r["LastName"] for r in _contacts(emulator)) == want, "a row is missing or duplicated"
    runs = session.store.runs("people")
    # the history tells what was written: the faulty run's created + the rerun's = the org's records
    assert sum(r.counts.created for r in runs) == sum(want.values()), [(r.status, r.counts) for r in runs]
    assert runs[1].counts.created == written
    assert session.run("people").counts.api_calls == 0


@pytest.mark.slow
@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_a_full_disk_mid_run_stops_sending_and_the_next_run_settles_it(
    api: str, small_disk: Path, tmp_path: Path, emulator: InProcessEmulator
) -> None:
    session = _slow_session(tmp_path, emulator, api)
    filler: list[Path] = []
    progress = _fault_after_first_results(lambda: filler.append(_fill(small_disk)))
    with pytest.raises(StateError) as failed:
        session.run("people", RunOptions(progress=progress))
    text = str(failed.value)
    assert "is full" in text and "free space" in text, text
    assert "corrupt" not in text and "move it away" not in text
    written = _written(emulator)
    assert 0 < written < ROWS[api], "sending stopped at the first failed write"

    filler[0].unlink()
    _check_the_rerun(session, emulator, tmp_path, written)


@pytest.mark.slow
@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_a_state_directory_that_refuses_writes_mid_run_stops_sending_in_plain_words(
    api: str, tmp_path: Path, emulator: InProcessEmulator
) -> None:
    session = _slow_session(tmp_path, emulator, api)
    undo: list[Callable[[], None]] = []
    progress = _fault_after_first_results(lambda: undo.append(_deny(tmp_path / ".sfsync")))
    try:
        with pytest.raises(StateError) as failed:
            session.run("people", RunOptions(progress=progress))
    finally:
        for u in undo:
            u()
    text = str(failed.value)
    assert "permission denied" in text and "write permission" in text, text
    assert "corrupt" not in text and "move it away" not in text
    written = _written(emulator)
    assert 0 < written < ROWS[api], "sending stopped at the first failed write"
    last = session.store.last_run("people")
    assert last is not None and last.status is RunStatus.FAILED and "permission denied" in (last.error or "")
    _check_the_rerun(session, emulator, tmp_path, written)
