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
    return load_project(
        path, environ={**ENV, "STATE_PW": "state-pw-77", "S3_KEY": "AKIAEXAMPLE", "S3_SECRET": "s3-secret-55"}
    )


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


def test_files_on_object_storage_long_form(tmp_path: Path) -> None:
    project = _load(
        tmp_path,
        "state:\n  url: postgresql://db/x\n  files:\n    url: s3://acme-sfsync/prod\n"
        "    endpoint_url: http://127.0.0.1:9000\n    region: eu-west-1\n"
        '    access_key_id: "${S3_KEY}"\n    secret_access_key: "${S3_SECRET}"\n',
    )
    files = project.state.files  # type: ignore[attr-defined]
    assert (files.scheme, files.local_path, files.region) == ("s3", None, "eu-west-1")
    assert files.secret_access_key.get_secret_value() == "s3-secret-55"
    assert "s3-secret-55" not in repr(project.state)  # type: ignore[attr-defined]
    short = _load(tmp_path, "state: {url: 'postgresql://db/x', files: 's3://acme-sfsync/prod'}\n")
    assert short.state.files.scheme == "s3" and short.state.files.access_key_id is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ('state: {url: "postgresql://sfsync:hunter2@db/sfsync"}', "state.url"),
        ("state: {url: 'mysql://db/x'}", "PostgreSQL URL"),
        ("state: {files: /mnt/shared}", "files: needs url"),
        ("state: {url: 'postgresql://db/x', schema: pg_catalog}", "not pg_"),
        ("state: {url: 'postgresql://db/x', lease_seconds: 5, lease_heartbeat_seconds: 5}", "must be below"),
        ("state: {url: 'postgresql://db/x', leases: 5}", "state.leases"),
        (
            "state: {url: 'postgresql://db/x', files: {url: 's3://b/p', access_key_id: '${S3_KEY}',"
            " secret_access_key: hunter2}}",
            "written literally",
        ),
        ("state: {url: 'postgresql://db/x', files: 'ftp://host/dir'}", "not a filesystem"),
        ("state: {url: 'postgresql://db/x', files: 's3:///prefix'}", "names no bucket"),
        ("state: {url: 'postgresql://db/x', files: {url: /mnt/x, region: eu-west-1}}", "s3:// urls only"),
        (
            "state: {url: 'postgresql://db/x', files: {url: 's3://b/p', access_key_id: '${S3_KEY}'}}",
            "together",
        ),
        (
            "state: {url: 'postgresql://db/x', files: {url: 's3://b/p', endpoint_url: 'minio:9000'}}",
            "http(s)",
        ),
        ("state: {files: 's3://b/p'}", "files: needs url"),
    ],
)
def test_bad_state_settings_are_refused_by_name(tmp_path: Path, state: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, state + "\n")
    text = f"{caught.value.message} {caught.value}"
    assert message in text
    assert "hunter2" not in text and "s3-secret-55" not in text
