"""Salesforce record ids: 15-character case-sensitive ids and their 18-character form."""

from __future__ import annotations

import itertools
import threading

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_CHARS = frozenset(_BASE62)


def checksum(id15: str) -> str:
    """The 3-character suffix: one character per 5-character chunk, bit i set when char i is upper case."""
    out = []
    for start in (0, 5, 10):
        bits = 0
        for i, ch in enumerate(id15[start : start + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def is_well_formed(value: str) -> bool:
    """True when value is a 15-char id or an 18-char id whose suffix matches."""
    if len(value) not in (15, 18) or not set(value) <= _ID_CHARS:
        return False
    return len(value) == 15 or value[15:] == checksum(value[:15])


def normalize(value: str) -> str | None:
    """The 18-char form of a well-formed id, or None when it is malformed."""
    if not is_well_formed(value):
        return None
    return value if len(value) == 18 else value + checksum(value)


class IdFactory:
    """Mints ids of one key prefix: prefix (3) + pod (2) + zero-padded base-62 sequence, 18 chars."""

    def __init__(self, prefix: str, pod: str = "8d", start: int = 1) -> None:
        if len(prefix) != 3:
            raise ValueError(f"key prefix must have 3 characters: {prefix!r}")
        self.prefix = prefix
        self.pod = pod
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            n = next(self._counter)
        return self.make(n)

    def make(self, n: int) -> str:
        digits = []
        for _ in range(10):
            n, r = divmod(n, 62)
            digits.append(_BASE62[r])
        body = self.prefix + self.pod + "".join(reversed(digits))
        return body + checksum(body)
