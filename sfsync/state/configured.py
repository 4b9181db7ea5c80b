"""Opening a project's state store as its project file says (``state:``, see ``sfsync.config.state``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sfsync.config.state import StateConfig
from sfsync.state.objectfiles import ObjectFiles
from sfsync.state.paths import StateSettings
from sfsync.state.store import StateStore


def open_state(
    directory: Path,
    config: StateConfig,
    settings: StateSettings | None = None,
    *,
    files: Path | None = None,
) -> StateStore:
    """The project's store: files in ``directory`` (or ``files``, the resolved ``state: files:``
    directory, with scratch files staying in ``directory``; or on object storage when ``state: files:``
    is a URL, cached in ``directory``), its database in PostgreSQL when ``config.url`` is set."""
    base = settings or StateSettings()
    if config.url is None:
        return StateStore.open(directory, base)
    tuned = dataclasses.replace(
        base, lease_seconds=config.lease_seconds, lease_heartbeat_seconds=config.lease_heartbeat_seconds
    )
    url = config.url.get_secret_value()
    if config.files is not None and config.files.scheme is not None:
        remote = ObjectFiles.open(config.files, directory / "cache")
        return StateStore.open(directory, tuned, url=url, schema=config.schema_, files=remote)
    return StateStore.open(
        files or directory,
        tuned,
        url=url,
        schema=config.schema_,
        scratch=directory if files is not None else None,
    )


def has_database(directory: Path, config: StateConfig) -> bool:
    """Whether a store exists already: always for PostgreSQL (shared), else when ``state.db`` does."""
    return config.url is not None or (directory / "state.db").exists()


__all__ = ["has_database", "open_state"]
