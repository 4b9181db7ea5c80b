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

from sfsync.api import Problem
from sfsync.config import Project, ProjectFileError, parse_project
from sfsync.config.yamlsafe import check_yaml
from sfsync.errors import ConfigError, SyncRefused
from sfsync.web.schemas import ProblemOut

MAPPING_INDENT = 2
"""Indentation of the mappings the editor writes (a new or edited sync)."""


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 110
    y.indent(mapping=MAPPING_INDENT, sequence=4, offset=2)
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
    """``text`` with ``syncs.<name>`` set to ``entry`` (in place when it exists), as YAML text.

    Only the lines of that sync change: the entry is written with ruamel's round trip (keys that did not
    change keep their comments and style), and spliced into the original text, so every other byte of the
    file (other syncs, comments, blank lines, quoting, long lines) stays exactly as it was.
    """
    refusal = check_yaml(text)
    if refusal is not None:
        where = f"line {refusal.line}: " if refusal.line else ""
        raise SyncRefused(
            "the project file is refused as YAML", [ProblemOut(message=f"{where}{refusal.message}")]
        )
    y = _yaml()
    doc = y.load(text)
    if not isinstance(doc, CommentedMap):
        raise SyncRefused(
            "the project file is not a mapping", [ProblemOut(message="the project file must be a mapping")]
        )
    syncs = doc.get("syncs")
    if syncs is not None and not isinstance(syncs, CommentedMap):
        raise SyncRefused(
            "syncs: is not a mapping", [ProblemOut(message="syncs: must be a mapping of names", path="syncs")]
        )
    exists = syncs is not None and name in syncs
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
    lines = text.splitlines(keepends=True)
    if syncs is not None and exists:
        start, col = syncs.lc.key(name)
        end = _block_end(lines, start, col)
        block = _entry_text(y, name, _merged(syncs[name], entry), syncs.ca.items.get(name), col)
        return "".join(lines[:start]) + block + "".join(lines[end:])
    node = _merged(None, entry)
    if syncs:
        last = list(syncs)[-1]
        start, col = syncs.lc.key(last)
        end = _block_end(lines, start, col)
        first_col = syncs.lc.key(next(iter(syncs)))[1]
        return "".join(lines[:end]) + _entry_text(y, name, node, None, first_col) + "".join(lines[end:])
    return _first_sync(lines, doc, y, name, node)


def _merged(current: Any, entry: Mapping[str, Any]) -> CommentedMap:
    """The sync's node after the edit: ``current`` updated in place (keys that did not change keep their
    comments and flow style), or a new node."""
    if isinstance(current, CommentedMap):
        for key in [k for k in current if k not in entry]:
            del current[key]
        for key, value in entry.items():
            if current.get(key) != value:
                current[key] = _to_node(value, key in FLOW_KEYS or _was_flow(current.get(key)))
        return current
    node = CommentedMap()
    for key, value in entry.items():
        node[key] = _to_node(value, key in FLOW_KEYS)
    return node


def _is_filler(line: str) -> bool:
    """A blank or comment-only line."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _block_end(lines: list[str], start: int, col: int) -> int:
    """The line after the last line of the mapping entry whose key is on line ``start`` at column ``col``.

    The entry runs while lines are indented deeper than its key (or blank, or comments); comments and blank
    lines at its end belong to what follows (they stay where they are)."""
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if not _is_filler(line) and len(line) - len(line.lstrip(" ")) <= col:
            break
        end += 1
    while end > start + 1 and _is_filler(lines[end - 1]):
        end -= 1
    return end


def _entry_text(y: YAML, name: str, node: CommentedMap, key_comment: Any, col: int) -> str:
    """``name: node`` as YAML lines indented by ``col`` (trailing comments, which belong to what follows
    in the file, left out). The entry is dumped nested at its real depth, so the columns ruamel keeps for
    end-of-line comments stay right."""
    wrapper = CommentedMap()
    wrapper[name] = node
    if key_comment is not None:
        wrapper.ca.items[name] = key_comment
    levels, extra = divmod(col, MAPPING_INDENT)
    outer: CommentedMap = wrapper
    for _ in range(levels):
        parent = CommentedMap()
        parent["_"] = outer
        outer = parent
    out = io.StringIO()
    y.dump(outer, out)
    lines = out.getvalue().splitlines(keepends=True)[levels:]
    while len(lines) > 1 and _is_filler(lines[-1]):
        lines.pop()
    if not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    pad = " " * extra
    return "".join(pad + line if line.strip() else line for line in lines)


def _first_sync(lines: list[str], doc: CommentedMap, y: YAML, name: str, node: CommentedMap) -> str:
    """The text with its first sync: under an empty ``syncs:`` (``{}`` or nothing), or a new section."""
    block = _entry_text(y, name, node, None, 2)
    if "syncs" in doc:
        at: int = doc.lc.key("syncs")[0]
        head = lines[at].replace("{}", "", 1).rstrip() + "\n"
        return "".join(lines[:at]) + head + block + "".join(lines[at + 1 :])
    text = "".join(lines)
    if text and not text.endswith("\n"):
        text += "\n"
    return text + "syncs:\n" + block


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


Validator = Callable[[Project, str], list[Problem]]
"""(project, sync name) → every problem of that sync against its org and model
(``sfsync.api.Project.problems``)."""


def save_sync(
    file: Path, name: str, entry: Mapping[str, Any], *, create: bool, validate: Validator
) -> Project:
    """Validate ``entry`` as ``syncs.<name>`` and write the project file; raise SyncRefused otherwise."""
    text = file.read_text(encoding="utf-8")
    new_text = edited_text(text, name, entry, create=create)
    project = check_text(new_text, file)
    try:
        problems = validate(project, name)
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
