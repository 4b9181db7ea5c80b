"""Run ``sfsync run SYNC`` and SIGKILL this very process at one step of an upload to object storage (for
``test_workers.py``).

Usage: ``python -m tests.objectstore.kill_child PROJECT_FILE SYNC STEP NEEDLE``: the process dies right
before the ``STEP`` (``upload``: opening the upload of a temporary key; ``copy``: publishing a temporary
key under its final name) whose key contains ``NEEDLE``. The hook wraps the object store's filesystem in
this process only (``helpers.FaultyFS``); the sfsync code under test is unchanged.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from sfsync.config.state import FilesConfig
from sfsync.state.objectfiles import ObjectFiles
from tests.objectstore.helpers import FaultyFS, kill_now


def install(step: str, needle: str) -> None:
    real_open = ObjectFiles.open.__func__  # type: ignore[attr-defined]

    def open_faulty(cls: type[ObjectFiles], config: FilesConfig, cache: Path) -> ObjectFiles:
        files: ObjectFiles = real_open(cls, config, cache)

        def fault(at: str, path: str) -> None:
            if at == step and needle in path:
                kill_now()

        files.fs = FaultyFS(files.fs, fault)
        return files

    ObjectFiles.open = classmethod(open_faulty)  # type: ignore[method-assign,assignment]


def main(argv: list[str]) -> int:
    project_file, sync, step, needle = argv
    install(step, needle)
    from sfsync.cli import main as cli

    with contextlib.suppress(SystemExit):
        cli(["run", sync, "--project", project_file])
    # reaching this line means the hook never fired: the test fails on the exit code
    print("finished without being killed", file=sys.stderr)
    return 3


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
