"""Salesforce record ids as the client recognises them: 15 case-sensitive characters, or 18 with a
3-character checksum suffix (developer.salesforce.com/docs/atlas.en-us.api.meta/api/field_types.htm, "ID").

The suffix encodes, for each 5-character chunk, which characters are upper-case letters: bit i (least
significant first) set for an upper-case character i, the 5-bit number mapped onto ``A``-``Z0``-``5``.
"""

from __future__ import annotations

import re

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def id_suffix(id15: str) -> str:
    """The 3-character suffix of a 15-character id."""
    out = []
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if "A" <= ch <= "Z")
        out.append(_SUFFIX[bits])
    return "".join(out)


def is_record_id(value: str) -> bool:
    """True for a 15-character id, or an 18-character id whose suffix matches its first 15 characters."""
    if not _ID.match(value):
        return False
    return len(value) == 15 or value[15:] == id_suffix(value[:15])


__all__ = ["id_suffix", "is_record_id"]
