"""``sfsync ui``: serve the web UI and its JSON API over the project."""

from __future__ import annotations

from pathlib import Path

import typer

from sfsync.cli._app import app, console
from sfsync.config import DEFAULT_PROJECT_FILE, load_project


@app.command()
def ui(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind; any other than 127.0.0.1 needs SFSYNC_UI_TOKEN."
    ),
    port: int = typer.Option(8700, "--port", help="Port to listen on."),
    project: Path = typer.Option(
        Path(DEFAULT_PROJECT_FILE), "--project", help="Project file (or its directory)."
    ),
    no_login: bool = typer.Option(
        False,
        "--no-login",
        help="Serve without a login token (127.0.0.1 only; anyone on this machine can then use the UI).",
    ),
) -> None:
    """Serve the web UI (syncs, runs, rejected rows, a sync editor) and its JSON API (/api, /openapi.json).

    The UI needs a login token: SFSYNC_UI_TOKEN (24 characters or more), or one generated and printed at
    start when none is set.
    """
    import uvicorn

    from sfsync.web import UiSettings, check_bind, check_token, create_app, generate_token, token_from_env

    token = token_from_env()
    if token is not None:
        check_token(token)
    check_bind(host, token)  # a public address needs a token the operator chose (SFSYNC_UI_TOKEN)
    generated = token is None and not no_login
    if generated:
        token = generate_token()
    proj = load_project(project)  # fail early with the file's problems, before binding
    assert proj.path is not None
    application = create_app(UiSettings(project_file=proj.path, token=token))
    shown = f"[{host}]" if ":" in host else host
    if generated:
        login = f"log in with the token {token} (generated for this run; set SFSYNC_UI_TOKEN to choose one)"
    else:
        login = "log in with SFSYNC_UI_TOKEN" if token else "no login: loopback only"
    console.print(f"sfsync UI on http://{shown}:{port}/ ({login}); Ctrl-C stops it", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="warning")
