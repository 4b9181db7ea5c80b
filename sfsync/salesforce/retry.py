"""Wait schedules: exponential backoff with jitter for retries, and the growing interval of Bulk polls."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from sfsync.salesforce.settings import ConnectionSettings


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: retry ``n`` (1-based) waits ``base * multiplier**(n-1)``, capped at ``maximum``.

    ``jitter`` is the share of that wait drawn at random: the wait is uniform in
    ``[d * (1 - jitter), d]``, so parallel clients that failed together do not retry together.
    A server's ``Retry-After`` is honoured (up to ``maximum``) when it asks for longer.
    """

    base: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5

    @classmethod
    def from_settings(cls, settings: ConnectionSettings) -> Backoff:
        return cls(
            base=settings.backoff_base_seconds,
            maximum=settings.backoff_max_seconds,
            multiplier=settings.backoff_multiplier,
            jitter=settings.backoff_jitter,
        )

    def ceiling(self, retry: int) -> float:
        """The wait before ``retry`` without jitter."""
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        return min(self.maximum, self.base * self.multiplier ** (retry - 1))

    def delay(
        self, retry: int, *, rng: random.Random | None = None, retry_after: float | None = None
    ) -> float:
        top = self.ceiling(retry)
        draw = (rng or random).random()
        wait = top * (1.0 - self.jitter * draw)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.maximum))
        return wait


def poll_intervals(settings: ConnectionSettings) -> Iterator[float]:
    """Waits between polls of a Bulk job: initial, then growing by ``bulk_poll_multiplier`` up to the max."""
    wait = settings.bulk_poll_initial_seconds
    while True:
        yield wait
        wait = min(settings.bulk_poll_max_seconds, wait * settings.bulk_poll_multiplier)


__all__ = ["Backoff", "poll_intervals"]
