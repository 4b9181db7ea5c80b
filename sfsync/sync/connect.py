"""From a project's ``destinations.<name>`` block to a connected Salesforce client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from sfsync.config.destinations import SalesforceDestination
from sfsync.salesforce.settings import ConnectionSettings


def connection_settings(dest: SalesforceDestination, project_dir: Path) -> ConnectionSettings:
    """Map the project file's destination onto the client's settings (paths relative to the project)."""
    auth = dest.auth
    values: dict[str, Any] = {"flow": auth.flow, "api_version": dest.api_version}
    if dest.login_url is not None:
        values["login_url"] = dest.login_url
    if dest.instance_url is not None:
        values["instance_url"] = dest.instance_url
    for name in (
        "client_id",
        "client_secret",
        "username",
        "password",
        "security_token",
        "private_key",
        "refresh_token",
        "access_token",
    ):
        value = getattr(auth, name, None)
        if value is not None:
            values[name] = value
    key_file = getattr(auth, "private_key_file", None)
    if key_file is not None:
        values["private_key_file"] = project_dir / key_file
    audience = getattr(auth, "audience", None)
    if audience is not None:
        values["jwt_audience"] = audience
    if dest.ca_bundle is not None:
        values["ca_bundle"] = project_dir / dest.ca_bundle
    s = dest.settings
    values.update(
        max_concurrency=s.max_concurrency,
        collection_chunk_size=s.rest_batch_size,
        bulk_max_upload_bytes=s.bulk_max_bytes,
        read_timeout_seconds=s.timeout_seconds,
        write_timeout_seconds=s.timeout_seconds,
        max_retries=s.max_retries,
        stop_at_api_usage_percent=s.api_usage_limit_percent,
        bulk_poll_initial_seconds=min(s.bulk_poll_seconds, 1.0),
        bulk_poll_max_seconds=max(s.bulk_poll_seconds, 1.0),
    )
    return ConnectionSettings(**values)


def open_client(
    dest: SalesforceDestination, project_dir: Path, *, transport: httpx.BaseTransport | None = None
) -> Any:
    """A ``SalesforceClient`` for ``dest``; ``transport`` lets tests mount the emulator in-process."""
    from sfsync.salesforce import SalesforceClient

    return SalesforceClient(connection_settings(dest, project_dir), transport=transport)
