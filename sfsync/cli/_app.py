"""The Typer application, the one console, and the one error handler every command goes through."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from sfsync.errors import SfsyncError

app = typer.Typer(
    name="sfsync",
    help="Keep Salesforce objects in step with your data warehouse (reverse ETL, sync-as-code).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (no terminal) is not squeezed into 80 columns: tables stay readable in logs and files.
_PIPE_WIDTH = 200
console = Console(width=None if sys.stdout.isatty() else _PIPE_WIDTH)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else _PIPE_WIDTH)

_state = {"debug": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    _state["debug"] = debug


def fail(error: SfsyncError) -> NoReturn:
    """Print one clear error (all problems of a ConfigError) and exit with its code."""
    problems = getattr(error, "problems", None)
    if problems and problems != [error.message]:
        err_console.print(f"[bold red]error:[/] {error.message}", highlight=False)
        for p in problems:
            err_console.print(f"  - {p}", highlight=False, markup=False)
        if error.hint:
            err_console.print(f"  hint: {error.hint}", highlight=False, markup=False)
    else:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
    raise SystemExit(error.exit_code)


def main() -> None:
    try:
        app(standalone_mode=True)
    except SfsyncError as e:
        if _state["debug"]:
            raise
        fail(e)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
