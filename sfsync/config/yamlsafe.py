"""Reading YAML written by people (project files, the web UI's editor) without letting it hurt the reader.

Plain YAML has three traps for a program that loads untrusted or careless text:

- **alias bombs**: ten lines of anchors and aliases (``b: [*a, *a, …]``) that expand to billions of nodes
  when the document is turned into plain data;
- **deep nesting**: ``[[[[…]]]]`` thousands deep exhausts the parser's recursion;
- **language tags**: ``!!python/object/apply:os.system`` asks a loader to build objects or run code.

:func:`check_yaml` composes the document (nodes only, nothing constructed) and walks it with aliases
expanded, counting every node it would visit; it refuses the document, naming the line, as soon as the
expansion passes :data:`MAX_NODES`, the nesting passes :data:`MAX_DEPTH`, or a node carries a tag other
than YAML's core types. Only then is the document loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_NODES = 200_000
"""Most nodes a document may expand to once its aliases are followed (a large project file has a few
thousand)."""

MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences (a project file needs about six levels)."""

_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(
    _CORE + t for t in ("map", "omap", "seq", "str", "int", "float", "bool", "null", "timestamp", "merge")
)
"""The tags a document may carry: YAML's core types (an untagged node gets one of these)."""


@dataclass(frozen=True)
class YamlRefusal:
    """Why a document is refused, and the line (1-based) where it shows, when known."""

    line: int | None
    message: str


def _line(node: Node) -> int | None:
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def _tag(node: Node) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag))


def check_yaml(text: str) -> YamlRefusal | None:
    """None when ``text`` is safe to load; otherwise why not (syntax errors are left to the loader)."""
    try:
        root = YAML(typ="rt").compose(text)
    except RecursionError:
        return YamlRefusal(None, f"the YAML is nested too deeply (more than {MAX_DEPTH} levels)")
    except YAMLError:  # a syntax error: the loader reports it with its line
        return None
    if root is None:
        return None
    visited = 0
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            return YamlRefusal(
                _line(node),
                f"the YAML expands to more than {MAX_NODES:,} values once its aliases (*name) are "
                "followed: anchors and aliases must not repeat each other like this",
            )
        tag = _tag(node)
        if tag not in ALLOWED_TAGS:
            return YamlRefusal(
                _line(node),
                f"the tag {tag.replace(_CORE, '!!')!r} is not allowed: a project file holds plain values "
                "(text, numbers, booleans, dates, lists and mappings)",
            )
        if isinstance(node, ScalarNode):
            continue
        if depth > MAX_DEPTH:
            return YamlRefusal(_line(node), f"the YAML is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)
    return None


__all__ = ["ALLOWED_TAGS", "MAX_DEPTH", "MAX_NODES", "YamlRefusal", "check_yaml"]
