"""Load ``sfsync.yml``: YAML 1.2 with line numbers, ``${NAME}`` interpolation, validation, references.

Every problem found is reported at once in one :class:`ProjectFileError` (a ``ConfigError``), each naming
the file, the line, the key path (``syncs.vip_contacts.mode``) and what to write instead.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from sfsync.config import destinations, project, schedule, sources
from sfsync.config.env import STRICT_SECRETS, interpolate, load_dotenv
from sfsync.config.project import SKIP_REFERENCES, Loc, Project, reference_problems
from sfsync.config.yamlsafe import MAX_DEPTH, check_yaml
from sfsync.errors import ConfigError, ProjectFileError

DEFAULT_PROJECT_FILE = "sfsync.yml"
EXTENSION_PREFIX = "x-"
"""Top-level keys with this prefix are ignored: a place for YAML anchors (``x-defaults: &defaults``)."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a project file."""

    file: str
    path: str  # dotted key path, e.g. "syncs.vip_contacts.object_id.field" ("" = the whole file)
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def _known_keys() -> set[str]:
    keys: set[str] = set()
    for module in (project, sources, destinations, schedule):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
                for name, info in value.model_fields.items():
                    keys.add(info.alias or name)
    return keys


class _Reader:
    """Turns ruamel's round-trip nodes into plain data, recording lines and interpolating strings."""

    def __init__(self, variables: Mapping[str, str], dotenv_path: Path) -> None:
        self.variables = variables
        self.dotenv_path = dotenv_path
        self.lines: dict[Loc, int] = {}
        self.problems: list[tuple[Loc, str]] = []

    def plain(self, node: Any, loc: Loc) -> Any:
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            for key, value in node.items():
                k = str(key)
                # a key merged in from an anchor (<<: *x) has no mark of its own: it takes its parent's line
                with contextlib.suppress(KeyError, TypeError):
                    self.lines[(*loc, k)] = node.lc.key(key)[0] + 1
                out[k] = self.plain(value, (*loc, k))
            return out
        if isinstance(node, CommentedSeq):
            items = []
            for i, value in enumerate(node):
                self.lines[(*loc, i)] = node.lc.item(i)[0] + 1
                items.append(self.plain(value, (*loc, i)))
            return items
        if isinstance(node, str):
            value, missing = interpolate(str(node), self.variables)
            if missing:
                names = ", ".join(f"${{{n}}}" for n in missing)
                self.problems.append(
                    (loc, f"{names} is not set: set it in the environment or in {self.dotenv_path}")
                )
                return str(node)
            return value
        if isinstance(node, ScalarBoolean):
            return bool(node)
        if isinstance(node, bool):
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        return node


def _line_of(lines: Mapping[Loc, int], loc: Loc) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _data_path(data: Any, loc: tuple[Any, ...]) -> Loc:
    """Map pydantic's error location onto the file's keys (dropping union tags such as ``duckdb``)."""
    path: list[str | int] = []
    current = data
    tag_skipped = False  # a union's tag appears once, right after the dict it selects a model for
    for i, elem in enumerate(loc):
        last = i == len(loc) - 1
        nxt = loc[i + 1] if not last else None
        if isinstance(current, Mapping):
            selects = current.get("type") == elem or current.get("flow") == elem
            is_tag = not tag_skipped and (selects or (elem == nxt and elem in current))
            if is_tag:
                tag_skipped = True
                continue
            if elem in current:
                path.append(elem)
                current = current[elem]
                tag_skipped = False
                continue
        elif isinstance(current, list) and isinstance(elem, int) and 0 <= elem < len(current):
            path.append(elem)
            current = current[elem]
            tag_skipped = False
            continue
        if last:
            path.append(elem)
        current = None
    return tuple(path)


def _message(err: Mapping[str, Any], loc: Loc, known: set[str]) -> tuple[Loc, str]:
    kind = err["type"]
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        close = difflib.get_close_matches(name, sorted(known), n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        return loc, f"unknown key {name!r}{suggestion}"
    if kind == "missing":
        return loc, f"required key {str(loc[-1])!r} is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = str(err.get("ctx", {}).get("discriminator", "'type'")).strip("'")
        if kind == "union_tag_not_found":
            return (*loc, discriminator), f"required key {discriminator!r} is missing ({msg})"
        return (*loc, discriminator), msg
    return loc, msg


def _validation_problems(data: Any, error: ValidationError, known: set[str]) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    for err in error.errors(include_url=False):
        loc, msg = _message(err, _data_path(data, tuple(err["loc"])), known)
        out.append((loc, msg))
    return out


def parse_project(
    text: str, *, file: str, project_dir: Path, environ: Mapping[str, str] | None = None
) -> Project:
    """Validate project-file ``text``; ``project_dir`` holds the ``.env``. Raises ProjectFileError."""
    variables = dict(load_dotenv(project_dir))
    variables.update(os.environ if environ is None else environ)
    reader = _Reader(variables, project_dir / ".env")

    def fail(items: list[tuple[Loc, str]]) -> ProjectFileError:
        seen: set[tuple[Loc, str]] = set()
        details = []
        for loc, msg in items:
            if (loc, msg) in seen:
                continue
            seen.add((loc, msg))
            path = ".".join(str(p) for p in loc)
            details.append(ConfigProblem(file, path, _line_of(reader.lines, loc), msg))
        details.sort(key=lambda p: (p.line or 0, p.path))
        return ProjectFileError(file, details)

    refusal = check_yaml(text)
    if refusal is not None:
        raise ProjectFileError(file, [ConfigProblem(file, "", refusal.line, refusal.message)])
    try:
        node = YAML(typ="rt").load(text)
    except RecursionError:
        message = f"the YAML is nested too deeply (more than {MAX_DEPTH} levels)"
        raise ProjectFileError(file, [ConfigProblem(file, "", None, message)]) from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(x for x in (e.context, e.problem) if x)
        raise ProjectFileError(file, [ConfigProblem(file, "", line, f"not valid YAML: {what}")]) from None
    except YAMLError as e:
        raise ProjectFileError(file, [ConfigProblem(file, "", None, f"not valid YAML: {e}")]) from None
    if not isinstance(node, CommentedMap):
        raise ProjectFileError(
            file,
            [ConfigProblem(file, "", 1, "the project file must be a mapping starting with `version: 1`")],
        )
    data = reader.plain(node, ())
    # top-level keys starting with "x-" hold YAML anchors to reuse (like docker compose); they are not read
    data = {k: v for k, v in data.items() if not k.startswith(EXTENSION_PREFIX)}
    problems = list(reader.problems)
    problems.extend(reference_problems(data))
    result: Project | None = None
    try:
        result = Project.model_validate(data, context={STRICT_SECRETS: True, SKIP_REFERENCES: True})
    except ValidationError as e:
        problems.extend(_validation_problems(data, e, _known_keys()))
    if problems or result is None:
        raise fail(problems)
    result._lines = dict(reader.lines)
    return result


def load_project(
    path: str | Path = DEFAULT_PROJECT_FILE, *, environ: Mapping[str, str] | None = None
) -> Project:
    """Load and validate the project file at ``path`` (``${NAME}`` from ``environ`` or ``.env`` beside it)."""
    file = Path(path)
    if file.is_dir():
        file = file / DEFAULT_PROJECT_FILE
    if not file.is_file():
        raise ConfigError(
            f"no project file at {file}",
            hint="run `sfsync init` to create one, or pass --project PATH",
            file=str(file),
        )
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"cannot read {file}: {e}", hint="the project file must be UTF-8 text", file=str(file)
        ) from e
    result = parse_project(text, file=str(file), project_dir=file.parent.resolve(), environ=environ)
    result._path = file.resolve()
    return result


__all__ = ["DEFAULT_PROJECT_FILE", "ConfigProblem", "ProjectFileError", "load_project", "parse_project"]
