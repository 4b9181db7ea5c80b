"""Rule verdicts on run records (pure: the numbers in, firing or not and a summary out)."""

from __future__ import annotations

from datetime import UTC, datetime

from sfsync.alerts import Rule, check_run
from sfsync.config import Warnings
from sfsync.state import RunCounts, RunRecord, RunStatus, Trigger


def run(
    run_id: int = 2,
    *,
    status: RunStatus = RunStatus.SUCCEEDED,
    rows_read: int = 100,
    created: int = 0,
    updated: int = 0,
    rejected: int = 0,
    duration_s: float = 12.0,
    error: str | None = None,
) -> RunRecord:
    return RunRecord(
        id=run_id,
        sync="contacts",
        trigger=Trigger.SCHEDULE,
        status=status,
        started_at=datetime(2026, 1, 5, 10, 15, tzinfo=UTC),
        finished_at=datetime(2026, 1, 5, 10, 16, tzinfo=UTC),
        counts=RunCounts(rows_read=rows_read, created=created, updated=updated, rejected=rejected),
        duration_s=duration_s,
        error=error,
        api="rest",
        pid=1,
        host="h",
    )


def verdicts(warnings: Warnings, current: RunRecord, previous: RunRecord | None = None) -> dict[Rule, bool]:
    return {c.rule: c.firing for c in check_run(warnings, current, previous)}


def test_on_failure() -> None:
    w = Warnings(on_failure=True, rejected_rows_percent=None)
    [check] = check_run(w, run(status=RunStatus.FAILED, error="source down\n  hint: fix it"), None)
    assert check.firing and check.summary == "run 2 failed: source down"
    assert verdicts(w, run()) == {Rule.ON_FAILURE: False}
    assert (
        verdicts(Warnings(on_failure=False, rejected_rows_percent=None), run(status=RunStatus.FAILED)) == {}
    )
    # a run that had every row it sent rejected failed, and the summary says so with the codes
    everything = run(status=RunStatus.FAILED, rejected=2843)
    [check] = check_run(w, everything, None, {"INVALID_EMAIL_ADDRESS": 2843})
    assert check.firing
    assert check.summary == "run 2 failed: all 2,843 rows sent were rejected with INVALID_EMAIL_ADDRESS"


def test_rejected_rows_percent_of_rows_sent() -> None:
    w = Warnings(on_failure=False, rejected_rows_percent=10)
    partial = RunStatus.PARTIAL
    [check] = check_run(w, run(status=partial, created=8, updated=10, rejected=2), None, {"X": 2})
    assert not check.firing  # 2 of 20 = 10%: not above
    assert check.summary == "10% of rows rejected (2 of 20), all with X (within the 10% limit)"
    by_code = {"INVALID_EMAIL_ADDRESS": 2, "STRING_TOO_LONG": 1}
    [check] = check_run(w, run(status=partial, created=7, updated=10, rejected=3), None, by_code)
    assert check.firing
    assert (
        check.summary == "15% of rows rejected (3 of 20), mostly INVALID_EMAIL_ADDRESS (over the 10% limit)"
    )
    assert verdicts(w, run()) == {Rule.REJECTED_ROWS: False}  # nothing sent, nothing rejected
    assert verdicts(w, run(status=RunStatus.FAILED)) == {}  # no verdict on a run that sent nothing


def test_any_rejected_row_warns_by_default_and_the_rule_can_be_turned_off() -> None:
    one_bad = run(status=RunStatus.PARTIAL, created=999, rejected=1)
    [failure, check] = check_run(Warnings(), one_bad, None, {"DUPLICATE_VALUE": 1})
    assert not failure.firing and check.firing
    assert (
        check.summary == "0.1% of rows rejected (1 of 1,000), all with DUPLICATE_VALUE (over no rejected row)"
    )
    assert verdicts(Warnings(rejected_rows_percent=None), one_bad) == {Rule.ON_FAILURE: False}
    assert Warnings.model_validate({"rejected_rows_percent": False}).rejected_rows_percent is None
    assert Warnings.model_validate({"rejected_rows_percent": 0}).rejected_rows_percent == 0


def test_row_count_drop_against_the_previous_successful_run() -> None:
    w = Warnings(on_failure=False, rejected_rows_percent=None, row_count_drop_percent=50)
    before = run(1, rows_read=1000)
    [check] = check_run(w, run(rows_read=400), before)
    assert check.firing
    assert check.summary == "the model went from 1000 to 400 rows since run 1 (-60.0%, above the 50% limit)"
    assert verdicts(w, run(rows_read=600), before) == {Rule.ROW_COUNT_DROP: False}
    assert verdicts(w, run(rows_read=1500), before) == {Rule.ROW_COUNT_DROP: False}
    assert verdicts(w, run(rows_read=0), None) == {}  # nothing to compare with
    assert (
        verdicts(w, run(rows_read=0, status=RunStatus.FAILED), before) == {}
    )  # a failed run's 0 means nothing


def test_slower_than() -> None:
    w = Warnings(on_failure=False, rejected_rows_percent=None, slower_than="30m")
    [check] = check_run(w, run(duration_s=45 * 60), None)
    assert check.firing and check.summary == "run 2 took 45 min 00 s (longer than 30m)"
    assert verdicts(w, run(duration_s=20 * 60)) == {Rule.SLOWER_THAN: False}
    hour = Warnings(on_failure=False, rejected_rows_percent=None, slower_than="1h")
    [check] = check_run(hour, run(duration_s=2 * 3600 + 65), None)
    assert check.summary == "run 2 took 2 h 01 min (longer than 1h)"


def test_unfinished_runs_give_no_verdict() -> None:
    w = Warnings(on_failure=True, rejected_rows_percent=1, slower_than="1m")
    assert check_run(w, run(status=RunStatus.RUNNING), None) == []
    assert check_run(w, run(status=RunStatus.INTERRUPTED), None) == []
