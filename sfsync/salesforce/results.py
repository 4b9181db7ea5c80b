"""Row-level outcomes as data: what Salesforce said about each record sent.

A rejected record is a :class:`RecordResult` with ``success=False`` and its errors, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Per-record error codes worth sending again (docs/salesforce-facts.md#error-codes). Everything else is final.
RETRYABLE_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"


@dataclass(frozen=True)
class RecordError:
    """One error on one record: Salesforce's ``statusCode``, its message and the fields involved."""

    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f" (fields: {', '.join(self.fields)})" if self.fields else ""
        return f"{self.status_code}: {self.message}{where}"


@dataclass(frozen=True)
class RecordResult:
    """The fate of the record at position ``index`` of the caller's input.

    ``created`` is True/False for upserts (and True for successful creates), None when unknown.
    ``attempts`` counts how many times the record was sent (more than 1 after lock retries).
    """

    index: int
    id: str | None
    success: bool
    created: bool | None = None
    errors: tuple[RecordError, ...] = field(default_factory=tuple)
    attempts: int = 1

    @property
    def retryable(self) -> bool:
        """True when every error is one that may go away by itself (lock contention, rollback collateral)."""
        return (
            (not self.success)
            and bool(self.errors)
            and all(
                e.status_code in RETRYABLE_RECORD_CODES or e.status_code == ROLLED_BACK for e in self.errors
            )
        )

    @property
    def error_codes(self) -> tuple[str, ...]:
        return tuple(e.status_code for e in self.errors)


__all__ = ["RETRYABLE_RECORD_CODES", "ROLLED_BACK", "RecordError", "RecordResult"]
