"""Helpers for the source tests: a project around one source, built in code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sfsync.config import Project


def project_with(
    source: dict[str, Any], models: dict[str, dict[str, Any]], segments: dict[str, Any] | None = None
) -> Project:
    """A project whose only source is ``source`` (named ``src``); models default to kind custom, pk ``id``."""
    return Project.model_validate(
        {
            "version": 1,
            "sources": {"src": source},
            "models": {
                name: {"source": "src", "kind": "custom", "primary_key": "id", **m}
                for name, m in models.items()
            },
            "segments": segments or {},
        }
    )


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM) since the last :func:`reset_peak_rss`, in KiB."""
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+)", status)
    assert match, "VmHWM missing from /proc/self/status"
    return int(match.group(1))


def current_rss_kib() -> int:
    match = re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())
    assert match
    return int(match.group(1))


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs); False when the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
