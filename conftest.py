"""Root pytest configuration: hermetic environment and the shared fixture plugins."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.plugins.emulator",  # emulator in-process and over real sockets (plain and TLS)
    "tests.plugins.postgres",  # a throwaway PostgreSQL cluster on loopback
]

_LEAKY_PREFIXES = (
    "SF_",
    "SFSYNC_",
    "SALESFORCE_",
    "PG",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT",
    "AWS_",  # state files on S3: no test signs with the developer's AWS credentials
)


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the developer's credentials, home or Salesforce settings."""
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
