"""Reading one mapping of an org file: typed getters that collect problems (with their key path)
instead of raising, so ``load_org_file`` can report every problem of a file at once."""

from __future__ import annotations

from typing import Any

#: Keys whose values are secrets: a message about them never repeats the value.
SECRET_KEYS = frozenset({"password", "security_token", "client_secret", "token", "certificate"})

#: What a getter returns when the value had the wrong type (the problem is already recorded).
UNSET: Any = object()


class Section:
    """A mapping of the file at one key path: typed getters that record problems instead of raising."""

    def __init__(
        self, data: dict[str, Any], path: str, problems: list[tuple[str, str]], known: tuple[str, ...]
    ) -> None:
        self.data = data
        self.path = path
        self.problems = problems
        for key in data:
            if key not in known:
                self.fail(str(key), f"unknown key; use one of: {', '.join(known)}")

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, message: str) -> None:
        self.problems.append((self.key(name), message))

    def get(
        self,
        name: str,
        kind: type | tuple[type, ...],
        what: str,
        default: Any = None,
        *,
        required: bool = False,
    ) -> Any:
        if name not in self.data or self.data[name] is None:
            if required:
                self.fail(name, f"missing; give {what}")
            return default
        value = self.data[name]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
        if not ok:
            shown = "the value given" if name in SECRET_KEYS else repr(value)
            self.fail(name, f"expected {what}, got {shown}")
            return UNSET
        return value

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self.get(name, (str, int, float), "a text value", default, required=required)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.get(name, bool, "true or false", default)
        return default if value is UNSET else bool(value)

    def number(
        self, name: str, default: Any, *, integer: bool, low: float | None = None, high: float | None = None
    ) -> Any:
        what = "a whole number" if integer else "a number"
        value = self.get(name, int if integer else (int, float), what, default)
        if value is UNSET or value is None:
            return default if value is UNSET else value
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.fail(name, f"{value} is out of range; use {what} {bounds}")
            return default
        return value

    def section(self, name: str, known: tuple[str, ...]) -> Section | None:
        value = self.get(name, dict, "a mapping (key: value lines)")
        if not isinstance(value, dict):
            return None
        return Section(value, self.key(name), self.problems, known)

    def items(self, name: str, what: str) -> list[tuple[str, Any]]:
        value = self.get(name, dict, f"a mapping of {what}", {})
        return [(str(k), v) for k, v in value.items()] if isinstance(value, dict) else []

    def entries(self, name: str, known: tuple[str, ...]) -> list[Section]:
        value = self.get(name, list, "a list of entries (lines starting with '- ')", [])
        out: list[Section] = []
        if not isinstance(value, list):
            return out
        for i, item in enumerate(value):
            path = f"{self.key(name)}[{i}]"
            if isinstance(item, dict):
                out.append(Section(item, path, self.problems, known))
            else:
                self.problems.append((path, "expected a mapping with keys " + ", ".join(known)))
        return out

    def child(self, name: str, value: Any, known: tuple[str, ...]) -> Section | None:
        if not isinstance(value, dict):
            self.fail(name, f"expected a mapping with keys {', '.join(known)}")
            return None
        return Section(value, self.key(name), self.problems, known)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
