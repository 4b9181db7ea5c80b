"""Requests to the bucket per run, from moto's request log: a run that sends publishes its work files
and deletes them once settled; a run with nothing to send only lists ``work/<sync>/`` (one request).

The counts behind docs/state.md ("Work files in the bucket", "What it costs") are printed; see them with
``pytest -s tests/objectstore/test_request_counts.py``.
"""

from __future__ import annotations

import collections
import re

import duckdb
import pytest

from tests.objectstore.helpers import WORK_KEYS, S3WorkersFactory, contacts_insert, run_when_free
from tests.objectstore.server import S3Server

_LINE = re.compile(r'"(?:\x1b\[[0-9;]*m)*([A-Z]+) /([^ ?]+)(\?[^ ]*)?')


class _Log:
    """The requests moto logged for one bucket since the last call."""

    def __init__(self, server: S3Server, bucket: str) -> None:
        self.server, self.bucket = server, bucket
        self.seen = len(server.log.read_text().splitlines())

    def since(self) -> tuple[collections.Counter[str], int, int]:
        """Requests by method, those under ``work/``, and uploads begun under ``work/``."""
        lines = self.server.log.read_text().splitlines()
        methods: collections.Counter[str] = collections.Counter()
        work = uploads = 0
        for line in lines[self.seen :]:
            m = _LINE.search(line)
            if m is None or not m.group(2).startswith(self.bucket):
                continue
            methods[m.group(1)] += 1
            work += "prod/work" in m.group(2) + (m.group(3) or "")
            uploads += m.group(2).startswith(f"{self.bucket}/prod/work/") and m.group(3) == "?uploads"
        self.seen = len(lines)
        return methods, work, uploads


@pytest.mark.slow
@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_work_files_cost_requests_only_when_a_run_sends(
    s3_workers: S3WorkersFactory, s3_server: S3Server, bucket: str, api: str
) -> None:
    workers = s3_workers(syncs=contacts_insert(api))
    (a, _), warehouse = workers.projects, workers.warehouse
    log = _Log(s3_server, bucket)
    counts = []

    first = run_when_free(a)
    counts.append(("first run", first["counts"]["created"], *log.since()))
    assert s3_server.keys(bucket, WORK_KEYS) == []  # deleted once the run settled
    idle = run_when_free(a)
    counts.append(("nothing to send", idle["counts"]["unchanged"], *log.since()))
    con = duckdb.connect(str(warehouse))
    con.execute("insert into people select 'q' || i, 'F', 'L', 'q' || i || '@example.com' from range(3) t(i)")
    con.close()
    more = run_when_free(a)
    counts.append(("3 rows created", more["counts"]["created"], *log.since()))
    for what, rows, methods, work, _ in counts:
        print(f"{api}: {what} ({rows} rows): {sum(methods.values())} requests {dict(methods)}, work/: {work}")

    assert counts[1][4] == 0  # nothing to send: no work file published (recovery lists work/<sync>/)
    published = {"rest": 6, "bulk": 7}[api]  # manifest, run.json, changes, gone; batch or keys+csv; target
    assert counts[0][4] == published and counts[2][4] == published
    assert s3_server.keys(bucket, WORK_KEYS) == []
