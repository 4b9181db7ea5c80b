"""The Typer application, the one console, and the one error handler every command goes through.

Exit codes (docs/cli.md#exit-codes): 0 success; 1 a run failed, was interrupted or rejected rows over its
sync's warning limit, or something outside sfsync failed (warehouse, org, state store); 2 a usage,
configuration or not-found error (nothing was written); 130 interrupted by Ctrl-C. With ``--json`` every
error, usage errors included, is printed as one JSON object on stdout (``sfsync.api.error_view``) and the
exit code is the same as without it.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn, Protocol, TypeGuard

import click
import typer
from rich.console import Console

from sfsync.errors import SfsyncError, is_interrupt

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

JSON_FLAG = "--json"
INTERRUPTED_EXIT = 130

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        from sfsync import __version__

        console.print(f"sfsync {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the version and exit."
    ),
) -> None:
    _state["debug"] = debug


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (what every ``--json`` prints)."""
    console.out(json.dumps(data, indent=2, ensure_ascii=False, default=str), highlight=False)


def fail(error: SfsyncError, *, as_json: bool = False) -> NoReturn:
    """Print one clear error (all problems of a ConfigError) and exit with its code."""
    if as_json:
        from sfsync.api import error_view

        print_json(error_view(error))
        raise SystemExit(error.exit_code)
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


class _UsageError(Protocol):
    """What the CLI uses of Typer's and Click's usage errors (their classes differ between versions)."""

    exit_code: int

    def format_message(self) -> str: ...

    def show(self) -> None: ...


def _is_usage_error(error: Exception) -> TypeGuard[_UsageError]:
    """A command-line parsing error of Typer or Click (their classes differ between versions)."""
    return (
        isinstance(getattr(error, "exit_code", None), int)
        and callable(getattr(error, "format_message", None))
        and callable(getattr(error, "show", None))
    )


def _usage_error(error: _UsageError, as_json: bool) -> NoReturn:
    if as_json:
        print_json(
            {
                "error": {
                    "type": "UsageError",
                    "message": error.format_message(),
                    "hint": "see sfsync --help, or COMMAND --help",
                    "problems": [],
                    "exit_code": error.exit_code,
                }
            }
        )
    else:
        error.show()
    raise SystemExit(error.exit_code)


def _interrupted(as_json: bool) -> NoReturn:
    if as_json:
        print_json(
            {
                "error": {
                    "type": "Interrupted",
                    "message": "interrupted",
                    "hint": "a run stopped midway is recovered by the next run of its sync",
                    "problems": [],
                    "exit_code": INTERRUPTED_EXIT,
                }
            }
        )
    else:
        err_console.print("interrupted")
    raise SystemExit(INTERRUPTED_EXIT)


def main(args: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if args is None else args)
    as_json = JSON_FLAG in argv
    try:
        code = app(args=argv, prog_name="sfsync", standalone_mode=False)
    except SfsyncError as e:
        if is_interrupt(e):  # a Ctrl-C that reached a source or DuckDB and came back as an error
            _interrupted(as_json)
        if _state["debug"]:
            raise
        fail(e, as_json=as_json)
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        _interrupted(as_json)
    except Exception as e:
        if is_interrupt(e):  # DuckDB's RuntimeError("Query interrupted") outside a run
            _interrupted(as_json)
        if not _is_usage_error(e):
            raise
        if type(e).__name__ == "NoArgsIsHelpError":  # `sfsync` alone: the help (exit 2: usage)
            e.show()
            raise SystemExit(e.exit_code) from None
        _usage_error(e, as_json)
    if code == INTERRUPTED_EXIT:  # Typer turns a Ctrl-C inside a command into this exit code
        _interrupted(as_json)
    sys.exit(code if isinstance(code, int) else 0)
