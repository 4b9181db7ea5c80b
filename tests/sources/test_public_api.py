"""The names other layers import from sfsync.config, sfsync.sources and sfsync.sync (validate, check)
exist."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "sfsync.config",
        "sfsync.sources",
        "sfsync.sync.validate",
        "sfsync.sync.check",
        "sfsync.config.scaffold",
        "sfsync.demo_data",
    ],
)
def test_all_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert not missing


def test_engine_facing_api() -> None:
    from sfsync.config import Project, ResolvedSync, load_project  # noqa: F401
    from sfsync.sources import LogicalType, ModelQuery, Source, open_source, query_for  # noqa: F401
    from sfsync.sync.check import check_project  # noqa: F401
    from sfsync.sync.validate import Problem, validate_sync  # noqa: F401

    assert {
        m for m in ("schema", "columns", "read", "count_rows", "preview", "test_connection", "close")
    } <= set(dir(Source))
    assert [t.value for t in LogicalType] == [
        "text",
        "integer",
        "decimal",
        "float",
        "boolean",
        "date",
        "timestamp",
        "time",
        "other",
    ]
