"""``sfsync emulator``: serve the local Salesforce org emulator."""

from __future__ import annotations

from pathlib import Path

import typer

from sfsync.cli._app import app, console


@app.command()
def emulator(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8642, "--port", help="TCP port."),
    tls: bool = typer.Option(
        False,
        "--tls",
        help="Serve https with a self-signed certificate for "
        "127.0.0.1/localhost; prints the CA file to trust.",
    ),
    org: Path | None = typer.Option(
        None,
        "--org",
        help="Org file (YAML): extra fields, objects, users, apps, refresh tokens, faults.",
        exists=True,
        dir_okay=False,
    ),
    db: Path | None = typer.Option(
        None, "--db", help="SQLite file keeping records across restarts (default: in memory)."
    ),
    tls_dir: Path | None = typer.Option(
        None, "--tls-dir", help="Where the CA and server certificate live (default ~/.sfsync/emulator-tls)."
    ),
    admin_from_anywhere: bool = typer.Option(
        False, "--admin-from-anywhere", help="Let non-loopback callers use the /__admin endpoint."
    ),
) -> None:
    """Run a local Salesforce org (REST, OAuth, SOAP login, Collections, Bulk API 2.0) for demos and tests."""
    from sfsync.emulator.schema import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_PASSWORD,
        DEFAULT_USERNAME,
    )
    from sfsync.emulator.server import plan, serve

    planned = plan(host, port, tls, tls_dir)
    console.print(f"[bold]sfsync org emulator[/] listening on [cyan]{planned.url}[/]")
    console.print(f"  instance URL / login URL: {planned.url}", highlight=False)
    console.print(
        f"  username: {DEFAULT_USERNAME}   password: {DEFAULT_PASSWORD} (no security token)", highlight=False
    )
    console.print(
        f"  connected app: client_id={DEFAULT_CLIENT_ID}  client_secret={DEFAULT_CLIENT_SECRET}",
        highlight=False,
    )
    if org is not None:
        console.print(f"  org file: {org} (its users and apps are accepted too)", highlight=False)
    console.print(
        f"  records: {db if db else 'in memory (lost on exit; --db FILE keeps them)'}", highlight=False
    )
    if planned.tls is not None:
        console.print(f"  CA certificate: {planned.tls.ca_path}", highlight=False)
        console.print(
            f"    trust it: REQUESTS_CA_BUNDLE={planned.tls.ca_path} (python), "
            f"NODE_EXTRA_CA_CERTS={planned.tls.ca_path} (jsforce, sf CLI)",
            highlight=False,
        )
    console.print(
        f"  admin (faults, reset, usage): {planned.url}/__admin/faults   Ctrl+C stops", highlight=False
    )
    serve(
        host,
        port,
        tls,
        str(org) if org else None,
        str(db) if db else None,
        tls_dir=tls_dir,
        allow_remote_admin=admin_from_anywhere,
        log_level="warning",
    )
