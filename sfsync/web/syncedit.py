"""Saving a sync from the UI into ``sfsync.yml``: validate first, then a round-trip edit.

The file is edited with ruamel.yaml's round-trip mode, so comments, key order and quoting elsewhere stay
as the user wrote them; an existing sync keeps its position and the comments of keys that did not change.
Nothing is written unless the whole project, with the new entry, loads and the sync passes mapping
validation against the org's describe and the model's columns.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from sfsync.api import LogicalType
from sfsync.config import Project, ProjectFileError, parse_project
from sfsync.config.yamlsafe import check_yaml
from sfsync.errors import ConfigError, SyncRefused
from sfsync.web.schemas import ProblemOut


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 110
    y.indent(mapping=2, sequence=4, offset=2)
    return y


FLOW_KEYS = frozenset({"object_id", "schedule"})
"""Keys of a sync written in flow style (``{column: id, field: Ext__c}``) when the UI adds them."""
_AMBIGUOUS = re.compile(r"^\d{1,2}:\d{2}$")


def _scalar(value: Any) -> Any:
    # "07:00" must stay a string for YAML 1.1 readers too (they read 07:00 as the number 420)
    if isinstance(value, str) and _AMBIGUOUS.match(value):
        return DoubleQuotedScalarString(value)
    return value


def _to_node(value: Any, flow: bool = False) -> Any:
    if isinstance(value, Mapping):
        node = CommentedMap()
        for k, v in value.items():
            node[k] = _to_node(v, flow)
        if flow:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_to_node(v, flow) for v in value)
        seq.fa.set_flow_style()
        return seq
    return _scalar(value)


def _was_flow(node: Any) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq) and node.fa.flow_style()


def edited_text(text: str, name: str, entry: Mapping[str, Any], *, create: bool) -> str:
    """``text`` with ``syncs.<name>`` set to ``entry`` (in place when it exists), as YAML text."""
    y = _yaml()
    doc = _document(y, text)
    syncs = _syncs(doc)
    exists = name in syncs
    if create and exists:
        raise SyncRefused(
            f"a sync named {name!r} already exists",
            [ProblemOut(message=f"sync {name!r} already exists: pick another name or edit it", path="name")],
        )
    if not create and not exists:
        raise SyncRefused(
            f"there is no sync {name!r}",
            [ProblemOut(message=f"there is no sync {name!r} to edit", path="name")],
        )
    _set_entry(syncs, name, entry)
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def _document(y: YAML, text: str) -> CommentedMap:
    """The project file as a round-trip document, refused unless it is safe YAML holding a mapping."""
    refusal = check_yaml(text)
    if refusal is not None:
        where = f"line {refusal.line}: " if refusal.line else ""
        raise SyncRefused(
            "the project file is refused as YAML", [ProblemOut(message=f"{where}{refusal.message}")]
        )
    doc = y.load(text)
    if not isinstance(doc, CommentedMap):
        raise SyncRefused(
            "the project file is not a mapping", [ProblemOut(message="the project file must be a mapping")]
        )
    return doc


def _syncs(doc: CommentedMap) -> CommentedMap:
    """The document's ``syncs:`` mapping, added when missing."""
    syncs = doc.get("syncs")
    if syncs is None:
        syncs = doc["syncs"] = CommentedMap()
    if not isinstance(syncs, CommentedMap):
        raise SyncRefused(
            "syncs: is not a mapping", [ProblemOut(message="syncs: must be a mapping of names", path="syncs")]
        )
    if not syncs:
        syncs.fa.set_block_style()  # `syncs: {}` grows into a block, like the rest of the file
    return syncs


def _set_entry(syncs: CommentedMap, name: str, entry: Mapping[str, Any]) -> None:
    """Set ``syncs.<name>``: an existing entry is edited key by key (unchanged keys keep their comments)."""
    current = syncs.get(name)
    if isinstance(current, CommentedMap):
        for key in [k for k in current if k not in entry]:
            del current[key]
        for key, value in entry.items():
            if current.get(key) != value:
                current[key] = _to_node(value, key in FLOW_KEYS or _was_flow(current.get(key)))
    else:
        node = CommentedMap()
        for key, value in entry.items():
            node[key] = _to_node(value, key in FLOW_KEYS)
        syncs[name] = node


def check_text(text: str, file: Path) -> Project:
    """Load the edited text as the project (every problem of the file becomes a refusal reason)."""
    try:
        project = parse_project(text, file=str(file), project_dir=file.parent.resolve())
    except ProjectFileError as exc:
        items = [
            ProblemOut(message=p.message, path=p.path or None, line=p.line)
            for p in getattr(exc, "details", [])
        ] or [ProblemOut(message=str(exc))]
        raise SyncRefused("the project file would not load with this sync", items) from exc
    project._path = file.resolve()
    return project


def write_atomic(file: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if file.exists():
            os.chmod(tmp, file.stat().st_mode & 0o777)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Validator = Callable[[Project, str], tuple[Mapping[str, Any], Mapping[str, LogicalType]]]
"""(project, sync name) → (the object's describe JSON, the model's columns): reaches org and warehouse."""


def save_sync(
    file: Path, name: str, entry: Mapping[str, Any], *, create: bool, org_and_columns: Validator
) -> Project:
    """Validate ``entry`` as ``syncs.<name>`` and write the project file; raise SyncRefused otherwise."""
    from sfsync.api import validate_sync

    text = file.read_text(encoding="utf-8")
    new_text = edited_text(text, name, entry, create=create)
    project = check_text(new_text, file)
    try:
        describe, columns = org_and_columns(project, name)
    except ConfigError as exc:
        raise SyncRefused(
            "the sync could not be checked against the org and the model",
            [ProblemOut(message=p, hint=exc.hint) for p in exc.problems],
        ) from exc
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise SyncRefused(
            "the sync could not be checked against the org and the model",
            [ProblemOut(message=message, hint=getattr(exc, "hint", None))],
        ) from exc
    problems = validate_sync(project, name, describe, columns)
    if problems:
        raise SyncRefused(
            f"sync {name!r} was not saved: {len(problems)} problem(s)",
            [ProblemOut(message=p.message, hint=p.hint, column=p.column, field=p.field) for p in problems],
        )
    if file.read_text(encoding="utf-8") != text:
        raise SyncRefused(
            "the project file changed while the sync was being checked",
            [ProblemOut(message="sfsync.yml changed on disk meanwhile: reload the page and save again")],
        )
    write_atomic(file, new_text)
    return project


__all__ = ["SyncRefused", "check_text", "edited_text", "save_sync", "write_atomic"]
