"""Helpers for the client tests: settings pointing at the emulator, fast backoff, a client per test."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sfsync.salesforce import ConnectionSettings, SalesforceClient

DEFAULT_USERNAME = "admin@example.com"
DEFAULT_PASSWORD = "sfsync-demo"
DEFAULT_CLIENT_ID = "sfsync-demo-client"
DEFAULT_CLIENT_SECRET = "sfsync-demo-secret"

# Real waits, but short: retries and polls stay quick without faking the clock.
FAST: dict[str, Any] = {
    "backoff_base_seconds": 0.005,
    "backoff_max_seconds": 0.02,
    "bulk_poll_initial_seconds": 0.02,
    "bulk_poll_max_seconds": 0.1,
    "bulk_job_timeout_seconds": 60.0,
}


def password_settings(login_url: str, **changes: Any) -> ConnectionSettings:
    values: dict[str, Any] = {
        "login_url": login_url,
        "flow": "password",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "username": DEFAULT_USERNAME,
        "password": DEFAULT_PASSWORD,
        **FAST,
    }
    values.update(changes)
    return ConnectionSettings(**values)


ClientFactory = Callable[..., SalesforceClient]


@pytest.fixture
def make_client(emulator: Any) -> Iterator[ClientFactory]:
    """Build clients on the in-process emulator: ``make_client(**settings_changes)``."""
    made: list[SalesforceClient] = []

    def make(**changes: Any) -> SalesforceClient:
        settings = password_settings(emulator.base_url, **changes)
        client = SalesforceClient(settings, transport=emulator.transport, rng=random.Random(3))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def sf(make_client: ClientFactory) -> SalesforceClient:
    """A password-flow client on the in-process emulator."""
    return make_client()
