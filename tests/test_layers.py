"""docs/architecture.md's layers hold: no import runs upward, the emulator stands alone, no print()."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sfsync

ROOT = Path(sfsync.__file__).parent

# package -> the sfsync packages it may import (besides itself)
_CORE = {"config", "errors", "sources", "salesforce", "state"}
ALLOWED = {
    "errors": set(),
    "config": {"errors"},
    "sources": {"config", "errors"},
    "salesforce": {"config", "errors"},
    "state": {"config", "errors"},
    "sync": _CORE,
    "alerts": {"config", "errors", "state"},
    # sample data for `init --demo` and `sfsync demo`: the demo project's files and its warehouse
    "demo_data": {"config", "errors"},
    # the facade: what the CLI, the scheduler daemon and the web UI call
    "api": _CORE | {"sync", "alerts"},
    "schedule": {"config", "errors", "state", "alerts", "api"},
    "web": {"config", "errors", "state", "api", "schedule"},
    # the top (the CLI alone starts the emulator; runtime code never imports it)
    "cli": {"config", "errors", "state", "api", "schedule", "web", "emulator", "demo_data"},
    "emulator": set(),
    # orchestrator integrations (optional extras): they call the facade alone
    "integrations": {"api", "errors"},
    "__main__": {"cli"},  # python -m sfsync
}
ENGINE = {"sync", "salesforce", "sources"}
"""What the CLI, the scheduler daemon and the web UI reach only through the facade (``sfsync.api``)."""


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


FILES = sorted(p for p in ROOT.rglob("*.py") if p.parent != ROOT or p.name != "__init__.py")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_runs_upward(path: Path) -> None:
    package = _package(path)
    upward = _imports(path) - ALLOWED[package] - {package}
    assert not upward, f"{path.relative_to(ROOT)} ({package}) imports {sorted(upward)}"


def test_every_package_has_its_layer() -> None:
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py") if p.name != "__init__.py"}
    assert packages | modules == set(ALLOWED)


@pytest.mark.parametrize(
    "path",
    [p for p in FILES if _package(p) in ("cli", "web", "schedule")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_cli_scheduler_and_web_go_through_the_facade(path: Path) -> None:
    engine = _imports(path) & ENGINE
    assert not engine, f"{path.relative_to(ROOT)} imports the engine ({sorted(engine)}): use sfsync.api"


def _exception_classes(path: Path) -> list[str]:
    """Classes defined in ``path`` that derive from an exception (by the names of their bases)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            if any(b.endswith(("Error", "Exception")) or b in ("SyncRefused",) for b in bases):
                found.append(node.name)
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in FILES if _package(p) not in ("emulator", "errors")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_one_error_tree(path: Path) -> None:
    """Every error class of sfsync is in sfsync/errors.py (the standalone emulator has its own)."""
    assert not _exception_classes(path), f"{path.relative_to(ROOT)} defines {_exception_classes(path)}"


def test_the_error_tree_is_drawn() -> None:
    import sfsync.errors as errors

    doc = errors.__doc__ or ""
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert isinstance(cls, type) and issubclass(cls, errors.SfsyncError), name
        assert f" {name} " in doc or doc.count(name), f"{name} is missing from the tree in the docstring"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_code_never_prints(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    called = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert "print" not in called, f"{path.relative_to(ROOT)} calls print()"


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
    assert callable(sfsync.Project.load) and isinstance(sfsync.RunResult, type)
