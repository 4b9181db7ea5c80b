"""sfsync: keep Salesforce objects in step with a data warehouse.

Embedding::

    import sfsync

    with sfsync.Project.load("sfsync.yml") as project:
        result = project.run("vip_contacts")
        print(result.counts.created, result.rejected_by_code)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sfsync.api import Project, RunResult

__all__ = ["Project", "RunResult", "__version__"]


def __getattr__(name: str) -> Any:
    # imported lazily so that `import sfsync.emulator` does not load the engine
    if name in ("Project", "RunResult"):
        from sfsync import api

        return getattr(api, name)
    raise AttributeError(f"module 'sfsync' has no attribute {name!r}")
