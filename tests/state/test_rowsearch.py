"""The row debugger's search over real part files of several runs: filters, sorting, paging, one key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from sfsync.state import JournalState, RunCounts, RunStatus, StateStore
from sfsync.state.rowsearch import RowDebugger
from tests.state.backends import Backend


def _results(rows: list[tuple[str, bool, str | None, str | None, str | None]]) -> pa.Table:
    keys, ok, ids, codes, messages = (list(c) for c in zip(*rows, strict=True))
    return pa.table(
        {
            "primary_key": keys,
            "success": ok,
            "operation": ["created" if s else "upsert" for s in ok],
            "record_id": ids,
            "error_code": codes,
            "message": messages,
        }
    )


@pytest.fixture
def store(tmp_path: Path, backend: Backend) -> Iterator[StateStore]:
    s = backend.open(tmp_path / ".sfsync")
    # run 1 of contacts: p1 created, p2 and p3 rejected
    r1 = s.start_run("contacts")
    s.record_results(
        r1.id,
        _results(
            [
                ("p1", True, "003A", None, None),
                ("p2", False, None, "INVALID_EMAIL_ADDRESS", "Email: invalid email address: x@"),
                ("p3", False, None, "STRING_TOO_LONG", "Last Name: data value too large"),
            ]
        ),
    )
    s.finish_run(r1.id, RunStatus.PARTIAL, RunCounts(created=1, rejected=2))
    # a run of another sync never shows up
    other = s.start_run("accounts")
    s.record_results(other.id, _results([("p2", True, "001X", None, None)]))
    s.finish_run(other.id, RunStatus.SUCCEEDED, RunCounts(created=1))
    # run 3 of contacts (Bulk): p2 fixed; its job part counts once the journal says collected
    r3 = s.start_run("contacts")
    s.journal_add(r3.id, "750J", "Contact", "upsert")
    s.journal_set_state("750J", JournalState.UPLOADED)
    s.journal_set_state("750J", JournalState.CLOSED)
    s.record_results(
        r3.id,
        _results(
            [
                ("p2", True, "003B", None, None),
                ("p3", False, None, "STRING_TOO_LONG", "Last Name: data value too large"),
            ]
        ),
        collected_job_id="750J",
    )
    s.finish_run(r3.id, RunStatus.PARTIAL, RunCounts(created=1, rejected=1))
    yield s
    s.close()


def test_search_by_key_code_message_and_record_id(store: StateStore) -> None:
    rows = RowDebugger(store, "contacts")
    page = rows.search()
    assert page.total == 5 and [h.run_id for h in page.rows] == [3, 3, 1, 1, 1]
    assert {h.primary_key for h in rows.search("P2").rows} == {"p2"}  # any case
    assert [(h.run_id, h.success) for h in rows.search("p2").rows] == [(3, True), (1, False)]
    assert [h.primary_key for h in rows.search("too_long").rows] == ["p3", "p3"]
    assert [h.primary_key for h in rows.search("invalid email").rows] == ["p2"]
    assert [h.primary_key for h in rows.search("003b").rows] == ["p2"]
    assert rows.search("nothing like it").total == 0


def test_filter_sort_and_page(store: StateStore) -> None:
    rows = RowDebugger(store, "contacts")
    rejected = rows.search(outcome="rejected")
    assert rejected.total == 3 and not any(h.success for h in rejected.rows)
    assert {h.primary_key for h in rows.search(outcome="accepted").rows} == {"p1", "p2"}
    assert [h.primary_key for h in rows.search(run_id=1).rows] == ["p1", "p2", "p3"]
    assert rows.search(run_id=2).total == 0  # run 2 belongs to another sync
    by_key = rows.search(sort="key", descending=False)
    assert [h.primary_key for h in by_key.rows] == ["p1", "p2", "p2", "p3", "p3"]
    by_code = rows.search(sort="code", descending=False)
    assert [h.error_code for h in by_code.rows][:3] == [
        "INVALID_EMAIL_ADDRESS",
        "STRING_TOO_LONG",
        "STRING_TOO_LONG",
    ]
    first = rows.search(sort="key", descending=False, limit=2)
    second = rows.search(sort="key", descending=False, limit=2, offset=2)
    last = rows.search(sort="key", descending=False, limit=2, offset=4)
    assert (first.total, second.total, last.total) == (5, 5, 5)
    keys = [h.primary_key for p in (first, second, last) for h in p.rows]
    assert keys == ["p1", "p2", "p2", "p3", "p3"]
    assert rows.search(offset=99).rows == [] and rows.search(offset=99).total == 5


def test_a_job_part_not_yet_collected_is_not_read(store: StateStore) -> None:
    run = store.start_run("contacts")
    store.journal_add(run.id, "750K", "Contact", "upsert")
    store.journal_set_state("750K", JournalState.CLOSED)
    # the part of a job whose collection a crash interrupted: on disk, but not live
    from sfsync.state import results

    results.write_part(
        results.run_dir(store.paths.results, run.id),
        results.normalise(run.id, _results([("p9", True, "003Z", None, None)]), operation=None),
        job_id="750K",
        compression="zstd",
        fsync=False,
    )
    assert RowDebugger(store, "contacts").search("p9").total == 0


def test_history_of_one_key_newest_first(store: StateStore) -> None:
    story = RowDebugger(store, "contacts").history("p2")
    assert [(r.run.id, r.result.success, r.result.record_id) for r in story] == [
        (3, True, "003B"),
        (1, False, None),
    ]
    assert story[1].result.error_code == "INVALID_EMAIL_ADDRESS"
    assert story[0].values == ()  # this store kept no sent values (the engine writes them)
    assert RowDebugger(store, "contacts").history("p404") == []
