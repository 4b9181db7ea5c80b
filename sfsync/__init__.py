"""sfsync: keep Salesforce objects in step with a data warehouse."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
