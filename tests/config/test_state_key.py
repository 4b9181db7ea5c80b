"""``state:`` in the project file: a PostgreSQL URL (its password through ``${NAME}``), schema, files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsync.config import load_project
from sfsync.errors import ConfigError
from tests.config.helpers import BASE, ENV


def _load(tmp_path: Path, state: str) -> object:
    path = tmp_path / "sfsync.yml"
    path.write_text(BASE + state)
    return load_project(path, environ={**ENV, "STATE_PW": "state-pw-77"})


def test_state_url_schema_and_files(tmp_path: Path) -> None:
    project = _load(
        tmp_path,
        'state:\n  url: "postgresql://sfsync:${STATE_PW}@db:5432/sfsync"\n  schema: acme\n  files: shared/\n',
    )
    state = project.state  # type: ignore[attr-defined]
    assert state.url.get_secret_value() == "postgresql://sfsync:state-pw-77@db:5432/sfsync"
    assert "state-pw-77" not in repr(state)
    assert (state.schema_, state.files.url, state.lease_seconds) == ("acme", "shared/", 30.0)
    assert state.files.local_path == "shared/" and state.files.scheme is None
    assert _load(tmp_path, "").state.url is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ('state: {url: "postgresql://sfsync:hunter2@db/sfsync"}', "state.url"),
        ("state: {url: 'mysql://db/x'}", "PostgreSQL URL"),
        ("state: {files: /mnt/shared}", "files: needs url"),
        ("state: {url: 'postgresql://db/x', schema: pg_catalog}", "not pg_"),
        ("state: {url: 'postgresql://db/x', lease_seconds: 5, lease_heartbeat_seconds: 5}", "must be below"),
        ("state: {url: 'postgresql://db/x', leases: 5}", "state.leases"),
    ],
)
def test_bad_state_settings_are_refused_by_name(tmp_path: Path, state: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, state + "\n")
    text = f"{caught.value.message} {caught.value}"
    assert message in text
    assert "hunter2" not in text
