"""Schedule slots shared by several schedulers (PostgreSQL state): the last slot dealt with per sync.

The scheduler of a single worker keeps them in ``schedule.json`` (``sfsync.schedule.ledger``). Workers
sharing a PostgreSQL store keep them in ``schedule_slots`` instead, and *claim* a slot before running it:
:func:`claim_slot` moves the sync's last slot forward in one conditional ``UPDATE``, so of several
schedulers that find the same slot due exactly one gets it. Slots only move forward (for the same
schedule fingerprint): a late writer never moves one back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sfsync.state.db import Database


@dataclass(frozen=True)
class SlotRecord:
    """The last slot dealt with for one sync, and the schedule (fingerprint) it belongs to."""

    last_fire: datetime
    fingerprint: str


def _text(moment: datetime) -> str:
    # fixed-width UTC text, so text order is time order in SQL
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def read_slots(db: Database) -> dict[str, SlotRecord]:
    with db.read() as conn:
        rows = conn.execute("SELECT sync, last_fire, fingerprint FROM schedule_slots").fetchall()
    return {str(s): SlotRecord(datetime.fromisoformat(str(t)), str(f)) for s, t, f in rows}


def read_slot(db: Database, sync: str) -> SlotRecord | None:
    with db.read() as conn:
        row = conn.execute(
            "SELECT last_fire, fingerprint FROM schedule_slots WHERE sync = ?", (sync,)
        ).fetchone()
    return SlotRecord(datetime.fromisoformat(str(row[0])), str(row[1])) if row else None


def record_slot(db: Database, sync: str, last_fire: datetime, fingerprint: str) -> bool:
    """Set the sync's last slot to ``last_fire`` unless it is already there or later (same schedule);
    a changed schedule starts afresh. True when this call moved it."""
    with db.write() as conn:
        row = conn.execute(
            "INSERT INTO schedule_slots (sync, last_fire, fingerprint) VALUES (?, ?, ?)"
            " ON CONFLICT (sync) DO UPDATE SET last_fire = excluded.last_fire,"
            " fingerprint = excluded.fingerprint"
            " WHERE schedule_slots.fingerprint <> excluded.fingerprint"
            " OR schedule_slots.last_fire < excluded.last_fire RETURNING sync",
            (sync, _text(last_fire), fingerprint),
        ).fetchone()
    return row is not None


def claim_slot(db: Database, sync: str, slot: datetime, fingerprint: str) -> datetime | None:
    """Take ``slot`` of ``sync`` for this worker: of the workers that try, exactly one gets the slot the
    sync had before (to give the claim back with :func:`give_back_slot`), the others None."""
    with db.write() as conn:
        row = conn.execute(
            "SELECT last_fire FROM schedule_slots WHERE sync = ? AND fingerprint = ? AND last_fire < ?"
            " FOR UPDATE",
            (sync, fingerprint, _text(slot)),
        ).fetchone()
        if row is None:
            return None
        conn.execute("UPDATE schedule_slots SET last_fire = ? WHERE sync = ?", (_text(slot), sync))
    return datetime.fromisoformat(str(row[0]))


def give_back_slot(db: Database, sync: str, slot: datetime, previous: datetime) -> bool:
    """Undo a claim whose run could not start (another worker's run still held the sync): the slot is
    due again, unless another worker has moved on since. True when it was given back."""
    with db.write() as conn:
        row = conn.execute(
            "UPDATE schedule_slots SET last_fire = ? WHERE sync = ? AND last_fire = ? RETURNING sync",
            (_text(previous), sync, _text(slot)),
        ).fetchone()
    return row is not None


def forget_slot(db: Database, sync: str) -> None:
    with db.write() as conn:
        conn.execute("DELETE FROM schedule_slots WHERE sync = ?", (sync,))


__all__ = [
    "SlotRecord",
    "claim_slot",
    "forget_slot",
    "give_back_slot",
    "read_slot",
    "read_slots",
    "record_slot",
]
