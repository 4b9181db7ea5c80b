"""DESIGN.md's layers hold: no import runs upward, the emulator stands alone, core code never prints."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sfsync

ROOT = Path(sfsync.__file__).parent

# package -> the sfsync packages it may import (besides itself)
ALLOWED = {
    "errors": set(),
    "config": {"errors"},
    "sources": {"config", "errors"},
    "salesforce": {"config", "errors"},
    "state": {"config", "errors"},
    "sync": {"config", "errors", "sources", "salesforce", "state"},
    "alerts": {"config", "errors", "sources", "salesforce", "state", "sync", "schedule"},
    "schedule": {"config", "errors", "sources", "salesforce", "state", "sync", "alerts"},
    "emulator": set(),
    # the top: everything but the emulator (runtime code never imports it; only the CLI starts it)
    "api": {"config", "errors", "sources", "salesforce", "state", "sync", "alerts", "schedule"},
    "web": {"config", "errors", "sources", "salesforce", "state", "sync", "alerts", "schedule", "api"},
}


def _package(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sfsync" and len(parts) > 1:
                found.add(parts[1])
    return found


FILES = sorted(p for p in ROOT.rglob("*.py") if _package(p) in ALLOWED)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_runs_upward(path: Path) -> None:
    package = _package(path)
    upward = _imports(path) - ALLOWED[package] - {package}
    assert not upward, f"{path.relative_to(ROOT)} ({package}) imports {sorted(upward)}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_code_never_prints(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert not [c for c in calls if c.func.id == "print"], f"{path.relative_to(ROOT)} calls print()"  # type: ignore[attr-defined]


# the emulator's rooms, one way down: endpoints -> records -> metadata; the serving modules on top
EMULATOR = ROOT / "emulator"
ROOMS_BELOW = {
    "metadata": set(),
    "records": {"metadata"},
    "endpoints": {"records", "metadata"},
    "": {"endpoints", "records", "metadata"},  # __init__, server.py, tls.py
}


def _room(path: Path) -> str:
    rel = path.relative_to(EMULATOR)
    return rel.parts[0] if len(rel.parts) > 1 else ""


def _emulator_rooms_imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["sfsync", "emulator"] and len(parts) > 2:
                found.add(parts[2] if parts[2] in ROOMS_BELOW else "")
    return found


EMULATOR_FILES = sorted(EMULATOR.rglob("*.py"))


@pytest.mark.parametrize("path", EMULATOR_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_emulator_rooms_import_downward(path: Path) -> None:
    room = _room(path)
    upward = _emulator_rooms_imported(path) - ROOMS_BELOW[room] - {room}
    assert not upward, f"{path.relative_to(ROOT)} (room {room or 'top'}) imports {sorted(upward)}"


def test_emulator_has_only_its_rooms() -> None:
    rooms = {p.name for p in EMULATOR.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert rooms == set(ROOMS_BELOW) - {""}


def test_public_api() -> None:
    assert set(sfsync.__all__) == {"Project", "RunResult", "__version__"}
    assert sfsync.Project.load and sfsync.RunResult
