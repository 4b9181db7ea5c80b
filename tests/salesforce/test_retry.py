"""The backoff schedule and the Bulk poll intervals."""

from __future__ import annotations

import random

import pytest
from pydantic import SecretStr

from sfsync.salesforce.retry import Backoff, poll_intervals
from sfsync.salesforce.settings import ConnectionSettings


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, maximum=10.0, multiplier=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_stays_within_the_band_and_varies() -> None:
    backoff = Backoff(base=1.0, maximum=60.0, multiplier=2.0, jitter=0.5)
    rng = random.Random(7)
    waits = [backoff.delay(3, rng=rng) for _ in range(200)]
    assert all(2.0 <= w <= 4.0 for w in waits)
    assert len(set(waits)) > 150


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    backoff = Backoff(base=0.1, maximum=5.0, jitter=0.0)
    assert backoff.delay(1, retry_after=3.0) == 3.0
    assert backoff.delay(1, retry_after=300.0) == 5.0


def test_retry_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        Backoff().delay(0)


def test_settings_feed_the_backoff_and_poll_schedule() -> None:
    settings = ConnectionSettings(
        flow="access_token",
        instance_url="https://x.my.salesforce.com",
        access_token=SecretStr("t"),
        backoff_base_seconds=0.25,
        backoff_max_seconds=1.0,
        backoff_jitter=0.0,
        bulk_poll_initial_seconds=1.0,
        bulk_poll_max_seconds=3.0,
        bulk_poll_multiplier=2.0,
    )
    backoff = Backoff.from_settings(settings)
    assert [backoff.delay(n) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 1.0]
    polls = poll_intervals(settings)
    assert [next(polls) for _ in range(4)] == [1.0, 2.0, 3.0, 3.0]
