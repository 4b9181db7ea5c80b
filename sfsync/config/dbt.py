"""Models that are dbt models: their relation and description, read from dbt's ``manifest.json``.

A model written ``dbt: {project_dir: transform, model: people}`` reads the table or view dbt builds for
its model ``people``. dbt writes every model's relation (``database.schema.alias``, quoted the way its
adapter quotes) and description into ``<project_dir>/<target_path>/manifest.json`` whenever it parses the
project (``dbt parse``, ``dbt run``, ``dbt build``); sfsync reads that file when a run reads the model, so
a renamed schema or alias is followed without editing the sfsync project. Manifest fields used: the
``nodes`` map, each node's ``resource_type``, ``name``, ``package_name``, ``relation_name``, ``database``,
``schema``, ``alias``, ``description`` and ``config.materialized`` (docs/project-file.md#dbt-models).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from sfsync.errors import ConfigError

if TYPE_CHECKING:
    from sfsync.config.project import Project

MANIFEST_FILE = "manifest.json"
"""The file dbt writes its parsed project to, inside its target path."""


class DbtModelRef(BaseModel):
    """``dbt:`` of a model: which dbt project, and which of its models."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project_dir: str = Field(min_length=1, description="the dbt project's directory (dbt_project.yml)")
    model: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="the dbt model's name")
    package: str | None = Field(
        default=None, description="the dbt package the model is in, when two packages have one that name"
    )
    target_path: str = Field(
        default="target", min_length=1, description="where dbt writes manifest.json, from project_dir"
    )


@dataclass(frozen=True)
class DbtNode:
    """What sfsync reads of one dbt model from the manifest."""

    unique_id: str  # model.<package>.<name>
    relation: str  # as dbt's adapter quotes it, e.g. "wh"."main"."people"
    description: str
    materialized: str
    manifest: Path


_cache_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


def manifest_path(project: Project, ref: DbtModelRef) -> Path:
    """Where dbt's manifest of ``ref`` is (project_dir resolved against the project file's folder)."""
    target = Path(ref.target_path).expanduser()
    root = project.resolve_path(ref.project_dir)
    return (target if target.is_absolute() else root / target) / MANIFEST_FILE


def _read_manifest(path: Path, where: str) -> dict[str, Any]:
    """The manifest's JSON, read again only when the file changed (dbt rewrites it at each parse)."""
    try:
        stat = path.stat()
    except OSError:
        raise ConfigError(
            f"{where}: there is no dbt manifest at {path}",
            hint="run `dbt parse` (or `dbt run`) in the dbt project: it writes target/manifest.json",
        ) from None
    key = (stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(
            f"{where}: cannot read the dbt manifest {path}: {e}",
            hint="run `dbt parse` again to rewrite it",
        ) from e
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise ConfigError(
            f"{where}: {path} is not a dbt manifest (no nodes)", hint="run `dbt parse` again to rewrite it"
        )
    with _cache_lock:
        _cache[path] = (key, data)
    return data


def _matching_nodes(nodes: dict[str, Any], ref: DbtModelRef) -> list[tuple[str, dict[str, Any]]]:
    return [
        (uid, node)
        for uid, node in nodes.items()
        if isinstance(node, dict)
        and node.get("resource_type") == "model"
        and node.get("name") == ref.model
        and (ref.package is None or node.get("package_name") == ref.package)
    ]


def _relation(node: dict[str, Any]) -> str | None:
    relation = node.get("relation_name")
    if isinstance(relation, str) and relation:
        return relation
    parts = [node.get(k) for k in ("database", "schema")] + [node.get("alias") or node.get("name")]
    if not all(isinstance(p, str) and p for p in parts[1:]):
        return None
    return ".".join(p for p in parts if isinstance(p, str) and p)


def dbt_node(project: Project, model_name: str) -> DbtNode:
    """The dbt model that model ``model_name`` names: its relation and description (ConfigError naming the
    manifest and how to fix it when the manifest or the model is missing, or the model has no relation)."""
    model = project.models[model_name]
    ref = model.dbt
    if ref is None:
        raise ConfigError(
            f"model {model_name!r} is not a dbt model", hint="give it dbt: {project_dir, model}"
        )
    where = f"models.{model_name}.dbt"
    path = manifest_path(project, ref)
    nodes: dict[str, Any] = _read_manifest(path, where)["nodes"]
    found = _matching_nodes(nodes, ref)
    if not found:
        names = sorted({n.get("name", "") for n in nodes.values() if n.get("resource_type") == "model"})
        raise ConfigError(
            f"{where}: the dbt manifest {path} has no model {ref.model!r}",
            hint=f"dbt models there: {', '.join(names) or 'none'} (run `dbt parse` after adding a model)",
        )
    if len(found) > 1:
        packages = sorted(str(n.get("package_name")) for _, n in found)
        raise ConfigError(
            f"{where}: several dbt packages have a model {ref.model!r}: {', '.join(packages)}",
            hint="name the one to read with dbt: {package: NAME}",
        )
    uid, node = found[0]
    config = node.get("config") if isinstance(node.get("config"), dict) else {}
    materialized = str((config or {}).get("materialized") or "")
    relation = _relation(node) if materialized != "ephemeral" else None
    if relation is None:
        raise ConfigError(
            f"{where}: dbt model {ref.model!r} is {materialized or 'not materialized'}: it has no table or "
            "view to read",
            hint="materialize it as a table, view or incremental model in dbt",
        )
    description = node.get("description")
    return DbtNode(
        unique_id=uid,
        relation=relation,
        description=description if isinstance(description, str) else "",
        materialized=materialized,
        manifest=path,
    )


_SAFE_RELATION = re.compile(r'^[A-Za-z0-9_$."`\[\] -]+$')


def model_sql(project: Project, model_name: str) -> str:
    """The SELECT that reads model ``model_name``: its sql or table, or a dbt model's relation."""
    model = project.models[model_name]
    if model.dbt is None:
        return model.base_sql
    node = dbt_node(project, model_name)
    if not _SAFE_RELATION.match(node.relation):
        raise ConfigError(
            f"models.{model_name}.dbt: dbt's relation {node.relation!r} is not a plain relation name",
            hint=f"check the model's alias and schema in {node.manifest}",
        )
    return f"select * from {node.relation}"


def model_description(project: Project, model_name: str) -> str | None:
    """The model's description: its own, else its dbt model's (None when neither says anything, or the
    manifest cannot be read: a description is never worth an error)."""
    model = project.models[model_name]
    if model.description or model.dbt is None:
        return model.description
    try:
        return dbt_node(project, model_name).description or None
    except ConfigError:
        return None


__all__ = [
    "MANIFEST_FILE",
    "DbtModelRef",
    "DbtNode",
    "dbt_node",
    "manifest_path",
    "model_description",
    "model_sql",
]
