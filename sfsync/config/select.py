"""``sfsync run --select``: pick syncs by name, tag, the sfsync model or the dbt model they read.

A selector is one of:

- ``NAME``: the sync of that name (``*`` and ``?`` match like shell patterns: ``contacts_*``);
- ``tag:NAME``: every sync with that word in its ``tags:``;
- ``model:NAME``: every sync whose ``from:`` is that model or a segment of it;
- ``dbt:NAME``: every sync reading a model whose ``dbt: {model: NAME}`` names that dbt model (or a
  segment of such a model).

Several selectors (repeated ``--select`` or separated by spaces) add up; ``a,b`` (a comma, no space)
keeps only the syncs both pick (``tag:nightly,dbt:people``). A selector that picks nothing is an error
naming what exists, so a typo never runs nothing quietly.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from sfsync.config.project import Project
from sfsync.errors import ConfigError

KINDS = ("tag", "model", "dbt")
"""Selector prefixes; a selector without one names syncs."""


def _model_of(project: Project, from_name: str) -> str:
    segment = project.segments.get(from_name)
    return segment.model if segment is not None else from_name


def _picks(project: Project, selector: str) -> list[str]:
    kind, sep, value = selector.partition(":")
    if not sep:
        kind, value = "", selector
    elif kind not in KINDS:
        raise ConfigError(
            f"--select {selector!r}: {kind!r} is not a selector kind",
            hint=f"write NAME, {', '.join(k + ':NAME' for k in KINDS)}",
        )
    if not value:
        raise ConfigError(f"--select {selector!r} names nothing", hint=f"write {kind or 'NAME'}:NAME")
    picked: list[str] = []
    for name, sync in project.syncs.items():
        model_name = _model_of(project, sync.from_)
        model = project.models.get(model_name)
        if (
            (kind == "" and fnmatchcase(name, value))
            or (kind == "tag" and value in sync.tags)
            or (kind == "model" and model_name == value)
            or (kind == "dbt" and model is not None and model.dbt is not None and model.dbt.model == value)
        ):
            picked.append(name)
    return picked


def _known(project: Project, kind: str) -> str:
    if kind == "tag":
        known = {t for s in project.syncs.values() for t in s.tags}
    elif kind == "model":
        known = set(project.models)
    elif kind == "dbt":
        known = {m.dbt.model for m in project.models.values() if m.dbt is not None}
    else:
        known = set(project.syncs)
    return ", ".join(sorted(known)) or "none"


def select_syncs(project: Project, selectors: Iterable[str]) -> list[str]:
    """The syncs the selectors pick, in the project file's order (ConfigError when one picks none)."""
    chosen: set[str] = set()
    for text in selectors:
        for selector in text.split():
            parts = selector.split(",")
            picked: set[str] | None = None
            for part in parts:
                these = set(_picks(project, part))
                if not these:
                    kind = part.partition(":")[0] if ":" in part else ""
                    what = {"": "syncs", "tag": "tags", "model": "models", "dbt": "dbt models read"}[kind]
                    raise ConfigError(
                        f"--select {part!r} picks no sync",
                        hint=f"{what} in this project: {_known(project, kind)}",
                    )
                picked = these if picked is None else picked & these
            if not picked:
                raise ConfigError(
                    f"--select {selector!r} picks no sync: none matches all of its comma-joined parts",
                    hint="separate selectors with a space to add them up instead",
                )
            chosen |= picked
    return [name for name in project.syncs if name in chosen]


__all__ = ["KINDS", "select_syncs"]
