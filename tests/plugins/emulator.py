"""Fixtures: the local org emulator (owned by the emulator work)."""
