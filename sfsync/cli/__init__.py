"""The ``sfsync`` command line: thin; parses arguments, calls the core, prints through one console.

Each command group lives in its own module and registers itself on ``app`` when imported here.
"""

from __future__ import annotations

from sfsync.cli import demo_cmd as _demo_cmd  # noqa: F401  (registers commands)
from sfsync.cli import emulator_cmd as _emulator_cmd  # noqa: F401
from sfsync.cli import history_cmd as _history_cmd  # noqa: F401
from sfsync.cli import project_cmd as _project_cmd  # noqa: F401
from sfsync.cli import run_cmd as _run_cmd  # noqa: F401
from sfsync.cli import schedule_cmd as _schedule_cmd  # noqa: F401
from sfsync.cli import ui_cmd as _ui_cmd  # noqa: F401
from sfsync.cli._app import app, main

__all__ = ["app", "main"]
