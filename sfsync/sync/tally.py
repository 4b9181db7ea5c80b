"""What one run's row outcomes add up to: counts by operation and error code, accepted and rejected keys
(the engine feeds it every table of outcomes as it is stored)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from sfsync.sync.outcomes import REMOVAL_DONE


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    removed: int = 0
    rejected: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    accepted: list[pa.Array] = field(default_factory=list)
    rejected_keys: list[pa.Array] = field(default_factory=list)

    def add(self, table: pa.Table) -> None:
        """Count one table of outcomes (vectorised: a Bulk job brings hundreds of thousands)."""
        ok = pc.fill_null(table.column("success"), False)
        self.accepted.append(table.column("primary_key").filter(ok).combine_chunks())
        self.rejected_keys.append(table.column("primary_key").filter(pc.invert(ok)).combine_chunks())
        for item in pc.value_counts(table.column("operation").filter(ok)).to_pylist():
            if item["values"] == "created":
                self.created += item["counts"]
            elif item["values"] == "updated":
                self.updated += item["counts"]
            elif item["values"] in REMOVAL_DONE.values():
                self.removed += item["counts"]
        codes = pc.fill_null(table.column("error_code").filter(pc.invert(ok)), "UNKNOWN_EXCEPTION")
        self.rejected += len(codes)
        for item in pc.value_counts(codes).to_pylist():
            self.codes[item["values"]] += item["counts"]

    def accepted_keys(self) -> pa.Array:
        return pa.concat_arrays(self.accepted) if self.accepted else pa.array([], pa.string())


__all__ = ["Tally"]
