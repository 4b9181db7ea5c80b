"""From a project's ``destinations.<name>`` block to a connected Salesforce client, and the one cache of
clients (:class:`Orgs`) that every check, describe, plan and run of a process shares."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from sfsync.config import Project
from sfsync.config.destinations import SalesforceDestination
from sfsync.errors import NotFoundError
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.settings import ConnectionSettings
from sfsync.salesforce.tokens import RefreshTokenStore
from sfsync.salesforce.transport import ApiUsage
from sfsync.state import StateStore, TokenFile
from sfsync.state.pgtokens import refresh_token_store
from sfsync.sync.automation_check import OrgRules, read_rules


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
    dest: SalesforceDestination,
    project_dir: Path,
    *,
    transport: httpx.BaseTransport | None = None,
    token_store: RefreshTokenStore | None = None,
) -> SalesforceClient:
    """A ``SalesforceClient`` for ``dest``; ``transport`` lets tests mount the emulator in-process,
    ``token_store`` keeps the newest refresh token (refresh_token flow)."""
    return SalesforceClient(
        connection_settings(dest, project_dir), transport=transport, token_store=token_store
    )


@dataclass(frozen=True)
class _Open:
    destination: SalesforceDestination
    project_dir: Path
    client: SalesforceClient


class Orgs:
    """One Salesforce client per destination, shared by every check, describe, plan and run of a process.

    Thread-safe (the scheduler runs several syncs at once). A destination whose block in the project file
    changed (the file was edited while the web UI or the scheduler runs) gets a new client; the old one is
    closed. ``transport`` lets tests mount the emulator in-process. Destinations using the refresh_token
    flow keep their newest refresh token (rotation) where ``token_stores`` says (the shared PostgreSQL
    state: ``sfsync.state.pgtokens``), else in ``state_dir`` (``sfsync.state.TokenFile``).
    """

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        state_dir: Path | None = None,
        token_stores: Callable[[str], RefreshTokenStore] | None = None,
    ) -> None:
        self.transport = transport
        self.state_dir = state_dir
        self.token_stores = token_stores
        self._open: dict[str, _Open] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_store(cls, store: StateStore, *, transport: httpx.BaseTransport | None = None) -> Orgs:
        """Clients whose refresh tokens live with ``store`` (its PostgreSQL database, else its directory)."""
        return cls(transport=transport, token_stores=partial(refresh_token_store, store))

    def client(self, project: Project, destination: str) -> SalesforceClient:
        if destination not in project.destinations:
            raise NotFoundError(
                f"there is no destination {destination!r}",
                what="destination",
                name=destination,
                hint=f"destinations: {', '.join(sorted(project.destinations)) or 'none'}",
            )
        dest = project.destinations[destination]
        with self._lock:
            known = self._open.get(destination)
            if known is not None and known.destination == dest and known.project_dir == project.root:
                return known.client
            if known is not None:
                known.client.close()
            tokens: RefreshTokenStore | None = None
            if dest.auth.flow == "refresh_token":
                if self.token_stores is not None:
                    tokens = self.token_stores(destination)
                elif self.state_dir is not None:
                    tokens = TokenFile(self.state_dir, destination)
            client = open_client(dest, project.root, transport=self.transport, token_store=tokens)
            self._open[destination] = _Open(dest, project.root, client)
            return client

    def api_usage(self, destination: str) -> ApiUsage | None:
        """The daily API usage the open client of ``destination`` last saw (None: no client, no call)."""
        with self._lock:
            known = self._open.get(destination)
        return known.client.api_usage if known is not None else None

    def access(self, project: Project) -> ProjectOrgs:
        """The orgs as :func:`sfsync.sync.check.check_project` reaches them."""
        return ProjectOrgs(self, project)

    def close(self) -> None:
        with self._lock:
            for known in self._open.values():
                known.client.close()
            self._open.clear()


@dataclass(frozen=True)
class ProjectOrgs:
    """A project's destinations through :class:`Orgs` (the ``OrgAccess`` of ``check_project``)."""

    orgs: Orgs
    project: Project

    def test(self, destination: str) -> None:
        self.orgs.client(self.project, destination).describe_global()

    def describe(self, destination: str, object_name: str) -> Mapping[str, Any]:
        raw: Mapping[str, Any] = self.orgs.client(self.project, destination).describe(object_name).raw
        return raw

    def active_rules(self, destination: str, object_name: str) -> OrgRules:
        return read_rules(self.orgs.client(self.project, destination), object_name)


__all__ = ["Orgs", "ProjectOrgs", "connection_settings", "open_client"]
