"""Fixtures: a throwaway PostgreSQL cluster on loopback (owned by the sources work)."""
