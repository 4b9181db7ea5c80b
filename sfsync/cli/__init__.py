"""The ``sfsync`` command line: thin; parses arguments, calls the core, prints through one console.

Each command group lives in its own module and registers itself on ``app``.
"""

from __future__ import annotations

from sfsync.cli._app import app, main
from sfsync.cli import emulator_cmd as _emulator_cmd  # noqa: F401  (registers commands)

__all__ = ["app", "main"]
