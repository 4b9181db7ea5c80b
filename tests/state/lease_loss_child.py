"""Worker A of the lease-loss test (``test_lease_loss.py``): runs one sync over a real socket and stops its
whole process (SIGSTOP) right after Salesforce answered its STALL_AT-th sObject Collections call (or, with
``bulk``, its STALL_AT-th Bulk job close), before the run sees that answer: a worker frozen mid-run (a
paused container, a long GC, a suspended VM).

Every request the worker sends is appended to LOG before it goes out, and ``STALLED`` when it stops, so
the test can tell what it sent after it was woken. Prints the run's outcome as one JSON line.
Usage: python lease_loss_child.py PROJECT LOG STALL_AT SYNC rest|bulk
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import httpx

from sfsync.api import Project
from sfsync.errors import SfsyncError


class StallingTransport(httpx.BaseTransport):
    def __init__(self, log: Path, stall_at: int, api: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.api = api
        self.log = log
        self.stall_at = stall_at
        self.calls = 0
        self.lock = threading.Lock()

    def _write(self, line: str) -> None:
        with self.lock, self.log.open("a") as f:
            f.write(line + "\n")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._write(f"{request.method} {request.url.path}")
        response = self.inner.handle_request(request)
        path = request.url.path
        if (
            path.endswith("/composite/sobjects")
            if self.api == "rest"
            else request.method == "PATCH" and "/jobs/ingest/" in path
        ):
            with self.lock:
                self.calls += 1
                stall = self.calls == self.stall_at
            if stall:
                self._write("STALLED")
                # directed at this very thread, so it stops before sending anything else (a stop signal sent
                # to the process may be taken by another thread while this one runs on for a moment); the
                # whole process stops, heartbeat included. The test sends SIGCONT once another worker ran.
                signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
        return response

    def close(self) -> None:
        self.inner.close()


def main() -> None:
    project_file, log, stall_at, sync = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with Project.load(project_file, transport=StallingTransport(log, stall_at, sys.argv[5])) as project:
        try:
            result = project.run(sync)
            print(json.dumps({"status": result.status.value}))
        except SfsyncError as exc:
            print(json.dumps({"error": type(exc).__name__, "message": exc.message, "run_id": exc.run_id}))


if __name__ == "__main__":
    main()
