"""Match keys of saved records, in memory: how duplicate rules find their candidates fast.

A duplicate rule compares a record being saved with the saved records that share its *match key* (the
normalised values of the fields every condition of the matching rule uses, e.g. FirstName + LastName).
A SQLite index on those values was measured to halve Bulk throughput at 1,000,000 Contacts: names
arrive in random order, so every 10,000-row chunk rewrites most of the index's pages. The keys live
here instead, in an open-addressing hash table of two arrays (key hash, record number): 16 bytes a slot,
at most half the slots used, so 1,000,000 records take about 32 MB.

The table is a *superset* of the truth: it is filled from the stored records the first time an object
needs it (one scan, deleted records included so an undelete needs nothing), then told every record a
write creates or re-keys; nothing is ever removed. Whoever looks a key up reads the candidate records
and compares their real values, so a stale entry (a deleted record, a key changed since, a write rolled
back, two keys with the same hash) can cost a read, never a wrong answer.

Record numbers: the emulator mints ids from a per-object sequence (``store.mint_range``), so an id of
the usual shape is stored as its sequence number (an ``int`` in an array) and rebuilt when needed; any
other id is kept as text in a side table.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sfsync.emulator.records.store import ID_POD, mint_range

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PAIR = {a + b: i * 62 + j for i, a in enumerate(_BASE62) for j, b in enumerate(_BASE62)}
_FIRST_CAPACITY = 1024

#: Turns one field's value into its comparable form (None: blank, never matches).
Normaliser = Callable[[Any], "str | None"]


def fold_text(value: Any) -> str | None:
    """Text as matching rules compare it: without case, runs of white space as one space, trimmed;
    blank → None."""
    if value is None:
        return None
    text = (value if type(value) is str else str(value)).strip().casefold()
    if "  " in text or "\t" in text or "\n" in text or "\r" in text or "\xa0" in text:
        text = " ".join(text.split())
    return text or None


def phone_digits(value: Any) -> str | None:
    """A phone number as matching rules compare it: its digits ("(415) 555-0100" = "415.555.0100")."""
    if value is None:
        return None
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return digits or None


class RecordNumbers:
    """Ids of one object ↔ numbers that fit an ``array('q')``: the sequence number of an id the emulator
    minted, or ``-k`` for the k-th other id (kept as text)."""

    def __init__(self, key_prefix: str) -> None:
        self.head = key_prefix + ID_POD
        self._other: list[str] = []
        self._other_number: dict[str, int] = {}

    def number(self, rid: str) -> int:
        if len(rid) >= 15 and rid.startswith(self.head):
            try:
                return (
                    ((_PAIR[rid[5:7]] * 3844 + _PAIR[rid[7:9]]) * 3844 + _PAIR[rid[9:11]]) * 3844
                    + _PAIR[rid[11:13]]
                ) * 3844 + _PAIR[rid[13:15]]
            except KeyError:
                pass
        n = self._other_number.get(rid)
        if n is None:
            self._other.append(rid)
            n = self._other_number[rid] = -len(self._other)
        return n

    def record_id(self, n: int) -> str:
        return self._other[-n - 1] if n < 0 else mint_range(self.head, n, 1)[0]


class KeyTable:
    """Hash of a match key → record numbers (several per key allowed); see the module docstring."""

    def __init__(self) -> None:
        self._hashes = array("q", bytes(8 * _FIRST_CAPACITY))
        self._numbers = array("q", bytes(8 * _FIRST_CAPACITY))
        self._mask = _FIRST_CAPACITY - 1
        self.size = 0

    def add(self, h: int, n: int) -> None:
        """Remember record ``n`` under hash ``h`` (non-zero); a pair already there is not added again."""
        self.add_many([h], [n])

    def add_many(self, hashes: Sequence[int], numbers: Sequence[int]) -> None:
        """``add`` for each pair (a tight loop: a 10,000-record chunk takes milliseconds)."""
        if 2 * (self.size + len(hashes)) > len(self._hashes):
            self._grow(self.size + len(hashes))
        slots, values, mask = self._hashes, self._numbers, self._mask
        added = 0
        for h, n in zip(hashes, numbers, strict=True):
            i = h & mask
            while True:
                found = slots[i]
                if found == 0:
                    slots[i] = h
                    values[i] = n
                    added += 1
                    break
                if found == h and values[i] == n:
                    break
                i = (i + 1) & mask
        self.size += added

    def find(self, h: int) -> list[int]:
        """The record numbers remembered under hash ``h``."""
        hashes, numbers, mask = self._hashes, self._numbers, self._mask
        out: list[int] = []
        i = h & mask
        while True:
            found = hashes[i]
            if found == 0:
                return out
            if found == h:
                out.append(numbers[i])
            i = (i + 1) & mask

    def _grow(self, needed: int) -> None:
        """Move to arrays big enough for ``needed`` entries (only the arrays: no list of the entries)."""
        old_hashes, old_numbers = self._hashes, self._numbers
        capacity = len(old_hashes)
        while 2 * needed > capacity:
            capacity *= 2
        slots = self._hashes = array("q", bytes(8 * capacity))
        values = self._numbers = array("q", bytes(8 * capacity))
        mask = self._mask = capacity - 1
        for h, n in zip(old_hashes, old_numbers, strict=True):
            if h:
                i = h & mask
                while slots[i]:
                    i = (i + 1) & mask
                slots[i] = h
                values[i] = n


_HASH_BITS = 0x7FFF_FFFF_FFFF_FFFF


def key_hashes(rows: Iterable[Sequence[Any]], normalisers: Sequence[Normaliser]) -> list[int | None]:
    """The hash of each row's match key (one value per field), or None where a field is blank: a signed
    64-bit value that is never 0 (0 marks an empty slot). Python's own ``hash``: the table lives in one
    process, so its per-process salt does no harm."""
    out: list[int | None] = []
    if len(normalisers) == 1:
        (n0,) = normalisers
        for (a,) in rows:
            x = n0(a)
            out.append(None if x is None else (hash(x) & _HASH_BITS) or 1)
    elif len(normalisers) == 2:
        n0, n1 = normalisers
        for a, b in rows:
            x, y = n0(a), n1(b)
            out.append(None if x is None or y is None else (hash((x, y)) & _HASH_BITS) or 1)
    else:
        for row in rows:
            key = tuple(norm(v) for norm, v in zip(normalisers, row, strict=True))
            out.append(None if None in key else (hash(key) & _HASH_BITS) or 1)
    return out


class MatchKeys:
    """The match keys of one object over one field set (``fields``, as describe spells them)."""

    def __init__(self, key_prefix: str, fields: Sequence[str], normalisers: Sequence[Normaliser]) -> None:
        self.fields = tuple(fields)
        self.normalisers = tuple(normalisers)
        self.numbers = RecordNumbers(key_prefix)
        self.table = KeyTable()

    def hashes(self, rows: Iterable[Sequence[Any]]) -> list[int | None]:
        """The key hash of each row of field values (None: a field is blank, the row matches nothing)."""
        return key_hashes(rows, self.normalisers)

    def remember(self, ids: Sequence[str], hashes: Sequence[int | None]) -> None:
        """Remember record ``ids[i]`` under ``hashes[i]`` (rows without a key are skipped)."""
        number = self.numbers.number
        pairs = [(h, number(rid)) for rid, h in zip(ids, hashes, strict=True) if h is not None]
        self.table.add_many([h for h, _ in pairs], [n for _, n in pairs])

    def add_rows(self, cursor: sqlite3.Cursor, batch: int = 10_000) -> None:
        """Remember the records a query returns as ``(Id, value of each field...)``, a batch at a time."""
        while rows := cursor.fetchmany(batch):
            self.remember([row[0] for row in rows], self.hashes([row[1:] for row in rows]))

    def candidates(self, h: int | None) -> list[str]:
        """Ids of the records remembered under key hash ``h`` (to be checked: a superset)."""
        if h is None:
            return []
        found = self.table.find(h)
        return [self.numbers.record_id(n) for n in found] if found else []


__all__ = ["KeyTable", "MatchKeys", "Normaliser", "RecordNumbers", "fold_text", "key_hashes", "phone_digits"]
