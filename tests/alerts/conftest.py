"""The alert tests reuse the scheduler tests' project factory and harness."""

from __future__ import annotations

from tests.schedule.conftest import factory, harness

__all__ = ["factory", "harness"]
