"""``sfsync emulator``: serve the local Salesforce org emulator."""

from __future__ import annotations

from pathlib import Path

import typer

from sfsync.cli._app import app, console
from sfsync.errors import ConfigError


@app.command()
def emulator(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8642, "--port", help="TCP port."),
    tls: bool = typer.Option(
        False,
        "--tls",
        help="Serve https with a self-signed certificate for 127.0.0.1/localhost; prints the CA.",
    ),
    org: Path | None = typer.Option(
        None, "--org", help="Org file (YAML): extra fields, objects, users, apps, refresh tokens, faults."
    ),
    db: Path | None = typer.Option(None, "--db", help="SQLite file keeping records across restarts."),
    tls_dir: Path | None = typer.Option(
        None, "--tls-dir", help="Where the CA and server certificate live (default ~/.sfsync/emulator-tls)."
    ),
    admin_from_anywhere: bool = typer.Option(
        False,
        "--admin-from-anywhere",
        help="Let non-loopback callers use the unauthenticated /__admin endpoint.",
    ),
) -> None:
    """Run a local Salesforce org (REST, OAuth, SOAP login, Collections, Bulk API 2.0) for demos and tests."""
    from sfsync.emulator.endpoints.app import create_app
    from sfsync.emulator.metadata.orgfile import OrgFileError
    from sfsync.emulator.metadata.schema import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_PASSWORD,
        DEFAULT_USERNAME,
    )
    from sfsync.emulator.server import plan, run

    if org is not None and not org.is_file():
        raise ConfigError(f"org file {org} does not exist", hint="pass --org PATH to an existing YAML file")
    try:
        server_app = create_app(
            org_file=str(org) if org else None,
            db_path=str(db) if db else None,
            allow_remote_admin=admin_from_anywhere,
        )
    except OrgFileError as e:
        raise ConfigError(
            str(e), file=str(org), hint="fix the org file (see docs/emulator-org-file.md)"
        ) from e
    planned = plan(host, port, tls, tls_dir)
    out = console.print
    out(f"[bold]sfsync org emulator[/] on [cyan]{planned.url}[/]")
    out(f"  instance URL / login URL: {planned.url}", highlight=False)
    config = server_app.state.config
    # the credentials the org really accepts: the defaults, unless the org file changed or removed them
    user = next((u for u in config.users if u.username == DEFAULT_USERNAME and u.active), None)
    if user is not None and user.password == DEFAULT_PASSWORD and not user.security_token:
        out(
            f"  username: {DEFAULT_USERNAME}   password: {DEFAULT_PASSWORD} (no security token)",
            highlight=False,
        )
    elif user is not None:
        out(f"  username: {DEFAULT_USERNAME}   password: as set in the org file", highlight=False)
    app = next((a for a in config.apps if a.client_id == DEFAULT_CLIENT_ID), None)
    if app is not None and app.client_secret == DEFAULT_CLIENT_SECRET:
        out(
            f"  connected app: client_id={DEFAULT_CLIENT_ID}  client_secret={DEFAULT_CLIENT_SECRET}",
            highlight=False,
        )
    elif app is not None:
        out(
            f"  connected app: client_id={DEFAULT_CLIENT_ID}  client_secret: as set in the org file",
            highlight=False,
        )
    if org is not None:
        others = len(config.users) - (user is not None)
        out(
            f"  org file: {org} ({others} more user(s) and {len(config.apps)} app(s) in all)", highlight=False
        )
    out(f"  records: {db if db else 'in memory (lost on exit; --db FILE keeps them)'}", highlight=False)
    if planned.tls is not None:
        ca = planned.tls.ca_path
        out(f"  CA certificate: {ca}", highlight=False)
        out(f"    python: REQUESTS_CA_BUNDLE={ca}", highlight=False)
        out(f"    node (jsforce, sf): NODE_EXTRA_CA_CERTS={ca}", highlight=False)
    out(f"  admin (faults, reset, usage): {planned.url}/__admin/faults    Ctrl+C stops", highlight=False)
    run(server_app, host, port, planned.tls)
