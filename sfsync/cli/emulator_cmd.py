"""``sfsync emulator``: serve the local Salesforce org emulator."""

from __future__ import annotations
