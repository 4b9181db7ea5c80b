"""ConnectionSettings: defaults, validation per flow, and no secret in any repr."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

import sfsync.salesforce as sf
from sfsync.errors import ConfigError
from sfsync.salesforce import ConnectionSettings, SalesforceClient
from sfsync.salesforce.auth import Authenticator
from sfsync.salesforce.settings import Flow


def test_defaults_and_normalisation() -> None:
    s = ConnectionSettings(
        login_url="https://acme.my.salesforce.com/",
        api_version="v61",
        client_id="c",
        client_secret=SecretStr("s"),
        username="u",
        password=SecretStr("p"),
    )
    assert s.login_url == "https://acme.my.salesforce.com"
    assert s.api_version == "61.0" and s.data_path == "/services/data/v61.0"
    assert ConnectionSettings().login_url == sf.PRODUCTION_LOGIN_URL
    assert ConnectionSettings().api_version == "62.0" and ConnectionSettings().max_concurrency == 4


@pytest.mark.parametrize(
    ("flow", "missing"),
    [
        ("password", ["client_id", "client_secret", "username", "password"]),
        ("jwt", ["client_id", "username", "private_key"]),
        ("client_credentials", ["client_id", "client_secret"]),
        ("refresh_token", ["client_id", "refresh_token"]),
        ("access_token", ["instance_url", "access_token"]),
    ],
)
def test_each_flow_names_what_it_misses(flow: Flow, missing: list[str]) -> None:
    settings = ConnectionSettings(flow=flow)
    problems = " | ".join(settings.problems())
    for name in missing:
        assert f"'{name}'" in problems
    with pytest.raises(ConfigError) as info:
        SalesforceClient(settings)
    assert info.value.problems == settings.problems()


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="not a URL"):
        ConnectionSettings(login_url="login.salesforce.com")
    with pytest.raises(ValueError, match="not a version"):
        ConnectionSettings(api_version="latest")
    with pytest.raises(ValueError):
        ConnectionSettings(collection_chunk_size=201)
    with pytest.raises(ValueError):
        ConnectionSettings(bulk_max_upload_bytes=200_000_000)
    problems = ConnectionSettings(
        flow="access_token",
        instance_url="https://x.example",
        access_token=SecretStr("t"),
        ca_bundle=Path("/nonexistent/ca.pem"),
    ).problems()
    assert problems == ["ca_bundle '/nonexistent/ca.pem' is not a readable file"]


def test_no_secret_in_reprs_of_settings_authenticator_client_and_token_request() -> None:
    secrets = {
        "client_secret": "CS-s3cr3t-xyz",
        "password": "PW-s3cr3t-xyz",
        "security_token": "TK-s3cr3t-xyz",
    }
    settings = ConnectionSettings(client_id="cid", username="u@example.com", **secrets)  # type: ignore[arg-type]
    token_request = Authenticator(settings).token_request()
    client = SalesforceClient(settings)
    try:
        texts = [
            repr(settings),
            str(settings),
            repr(Authenticator(settings)),
            repr(token_request),
            repr(client),
            repr(client.transport),
            settings.model_dump_json(),
        ]
        for text in texts:
            for secret in secrets.values():
                assert secret not in text
    finally:
        client.close()
    assert token_request.form["password"] == "PW-s3cr3t-xyzTK-s3cr3t-xyz"  # password + security token


def test_public_api_is_explicit() -> None:
    assert sorted(sf.__all__) == sorted(set(sf.__all__))
    for name in sf.__all__:
        assert getattr(sf, name) is not None
    assert {"SalesforceClient", "ConnectionSettings", "RecordResult", "BulkJob", "classify"} <= set(
        sf.__all__
    )
