"""The emulated org's records: SQLite storage, value conversion and validation, writes, Bulk rows, SOQL.

The middle room: it builds on ``metadata`` and never imports ``endpoints``.
"""
