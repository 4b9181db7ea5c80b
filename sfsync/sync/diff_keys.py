"""The local diff's primary-key checks: every key non-null and unique, refused before anything is written.

Nulls are counted as soon as the model is read (``count_keys``). Repeats cost no pass of their own when
there is a snapshot: the diff's key join with it shows them (``repeats_in_join``). On a first run (no
snapshot: every key is new) the keys are sorted, and a repeat sits next to its twin (``repeats_by_sort``).
Only when there is a repeat does the counting aggregate run, for the error's sample of keys. A sort or a
join over every key spills to disk once the keys outgrow the diff's ``memory_limit``; doing the check in
the join the diff needs anyway saves one such pass (docs/benchmarks.md, "Local planner scale curve").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from sfsync.errors import SourceError

#: How many offending keys a primary-key error names.
SAMPLE_KEYS = 5


def q(name: str) -> str:
    """A DuckDB-quoted identifier (``sfsync.sync.diff`` and its users take it from here)."""
    return '"' + name.replace('"', '""') + '"'


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    return con.execute(sql).fetchone() or (0, 0)


def count_keys(con: duckdb.DuckDBPyConnection, model_view: str, primary_key: str, model: str) -> int:
    """The rows of ``model_view``; a null primary key is refused."""
    pk = q(primary_key)
    rows, nulls = _one(con, f"SELECT count(*), count(*) - count({pk}) FROM {model_view}")
    refuse_bad_keys(model, primary_key, int(rows), int(nulls), [])
    return int(rows)


def repeats_by_sort(con: duckdb.DuckDBPyConnection, model_view: str, primary_key: str) -> bool:
    """Does a key repeat? Sorted, a repeat sits next to its twin: a sort spills more cheaply than the hash
    aggregate that counts every key (30M shuffled keys in 512MB: 4.6 s vs 8.3 s)."""
    pk = q(primary_key)
    sql = (
        f"SELECT count(*) FROM (SELECT {pk} AS k, lag({pk}) OVER (ORDER BY {pk}) AS prev FROM {model_view})"
        " WHERE k = prev"
    )
    return int(_one(con, sql)[0]) > 0


def repeats_in_join(con: duckdb.DuckDBPyConnection, joined: str, model_rows: int, snapshot_rows: int) -> bool:
    """Does a key repeat, judging by the full outer key join of the model with the snapshot?

    ``joined`` holds the join's rows that matter to the diff, with ``mk`` the model's key and ``sk`` the
    snapshot's; every row left unmatched on either side is among them. The snapshot's keys are unique
    (each snapshot was made from a diff that passed this check), so a model row matches at most one
    snapshot row, and the model's matched rows outnumber the snapshot's matched keys exactly when a
    snapshot key is matched twice. A key new since the snapshot repeats as two unmatched model rows.
    """
    un_model, un_snapshot = _one(
        con, f"SELECT count(*) FILTER (sk IS NULL), count(*) FILTER (mk IS NULL) FROM {joined}"
    )
    if model_rows - int(un_model) > snapshot_rows - int(un_snapshot):
        return True
    new_repeats = (
        f"SELECT count(*) FROM (SELECT mk FROM {joined} WHERE sk IS NULL GROUP BY mk HAVING count(*) > 1)"
    )
    return int(_one(con, new_repeats)[0]) > 0


def refuse_repeats(
    con: duckdb.DuckDBPyConnection, model_view: str, primary_key: str, model: str, rows: int
) -> None:
    """Count the repeated keys (a hash aggregate over every key: only once one is known to repeat) and
    refuse the model, naming up to SAMPLE_KEYS of them."""
    pk = q(primary_key)
    dups = con.execute(
        f"SELECT CAST(dk AS VARCHAR) AS key, n, total FROM (SELECT dk, n, count(*) OVER () AS total"
        f" FROM (SELECT {pk} AS dk, count(*) AS n FROM {model_view} GROUP BY 1 HAVING count(*) > 1))"
        f" ORDER BY n DESC, key LIMIT {SAMPLE_KEYS}"
    ).fetchall()
    refuse_bad_keys(model, primary_key, rows, 0, dups)


def refuse_bad_keys(
    model: str, primary_key: str, rows: int, nulls: int, dups: Sequence[tuple[Any, ...]]
) -> None:
    """Null or repeated primary keys (``dups``: key, its rows, how many keys repeat; at most
    SAMPLE_KEYS) are refused before anything is sent, whichever planner counted them."""
    if nulls:
        raise SourceError(
            f"model `{model}`: {nulls} of {rows} rows have a null primary key `{primary_key}`",
            model=model,
            hint=f"filter them out (where {primary_key} is not null) or fix the model; nothing was sent",
        )
    if dups:
        sample = ", ".join(f"{k!r} ({n} rows)" for k, n, _ in dups)
        repeat = "1 key repeats" if dups[0][2] == 1 else f"{dups[0][2]} keys repeat"
        raise SourceError(
            f"model `{model}`: primary key `{primary_key}` is not unique: {repeat}, e.g. {sample}",
            model=model,
            hint="make the model return one row per key (deduplicate, or pick another primary key); "
            "nothing was sent",
        )


__all__ = [
    "SAMPLE_KEYS",
    "count_keys",
    "q",
    "refuse_bad_keys",
    "refuse_repeats",
    "repeats_by_sort",
    "repeats_in_join",
]
