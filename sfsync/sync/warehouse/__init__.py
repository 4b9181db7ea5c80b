"""The warehouse planner: the diff runs as SQL in the source's database, against a snapshot kept there.

``sql`` builds every statement (sqlglot expressions, rendered per dialect), ``connection`` talks to the
database, ``planner`` computes a diff (a :class:`~sfsync.sync.diff.DiffResult` like the local one) and
``advance`` moves the warehouse snapshot after a run, and moves a snapshot between the planners.
See docs/warehouse-planner.md.
"""
