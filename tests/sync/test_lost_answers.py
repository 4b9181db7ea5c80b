"""A create whose answer is lost on the way back (a read timeout after Salesforce applied it) must not
become a duplicate: the client may not repeat it (it could write twice), so the rows come back failed
with ``CONNECTION_ERROR``; the run looks them up in the org (``sfsync.sync.reconcile``) before calling
them rejected, and the next run sends only what really is missing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx

from sfsync.sync.engine import SyncSession
from tests.plugins.emulator import InProcessEmulator
from tests.sync.test_engine_runs import _contacts, _people, _session

ROWS = 500


class _LosesAnswers(httpx.BaseTransport):
    """Delivers every request; the answers of the first ``lose`` collections creates never come back."""

    def __init__(self, inner: httpx.BaseTransport, lose: int) -> None:
        self._inner = inner
        self.lose = lose

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/composite/sobjects") and self.lose:
            self.lose -= 1
            raise httpx.ReadTimeout("the answer never came", request=request)
        return response


def test_creates_whose_answers_were_lost_are_found_in_the_org_not_sent_again(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    made = _session(tmp_path, emulator, _people(ROWS), mode="insert", api="rest", settings={"max_retries": 0})
    made.close()
    lossy = _LosesAnswers(emulator.transport, lose=2)
    session = SyncSession(made.project, made.store, transport=lossy)
    result = session.run("people")
    assert lossy.lose == 0, "two answers were lost"
    assert (result.counts.created, result.counts.rejected) == (ROWS, 0), result
    again = session.run("people")
    assert (again.counts.new, again.counts.changed, again.counts.created) == (0, 0, 0), again.counts
    assert Counter(r["LastName"] for r in _contacts(emulator)) == Counter(f"Last {i}" for i in range(ROWS))
