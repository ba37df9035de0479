"""The personal-data breach log (GDPR Art. 33(5)): facts, effects, remedial action.

"The controller shall document any personal data breaches, comprising the facts relating
to the personal data breach, its effects and the remedial action taken. That
documentation shall enable the supervisory authority to verify compliance." The log is
append-only: an entry is never changed or deleted (the ORM refuses it, see the listeners
below); a correction or a later development (the authority notified after all, more
people affected) is a new entry naming the one it corrects. Entries describe the people
by category and number, never by address: the log is kept for good, and an address in it
would outlive that person's erasure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from . import audit, compliance, reports
from .clock import utcnow
from .extensions import db
from .models import BreachLogEntry

AUDIT_ADD = "breach-log.add"
AUDIT_EXPORT = "breach-log.export"

_TEXTS = {
    "nature": "what happened (the nature of the breach)",
    "data_categories": "the categories of personal data concerned",
    "consequences": "the likely consequences",
    "measures": "the measures taken or proposed",
}


class BreachLogError(ValueError):
    """An entry that cannot be recorded; the message says which field and why."""


class AppendOnlyError(RuntimeError):
    """Something tried to change or delete a breach log entry."""


@dataclass
class BreachFacts:
    """What an entry records (Art. 33(3) and (5)); times are aware UTC."""

    discovered_at: datetime | None
    nature: str
    data_categories: str
    consequences: str
    measures: str
    occurred_at: datetime | None = None
    people_affected: int | None = None
    authority_notified: bool = False
    authority_notified_at: datetime | None = None
    people_informed: bool = False
    reasoning: str = ""


def record_breach(actor, facts: BreachFacts, corrects: int | None = None) -> BreachLogEntry:
    """Append one entry (flushed, audit-logged; the caller commits).

    Raises BreachLogError naming the field for a missing text, an impossible date, a
    negative count, an address in a text, or a correction of an entry that does not
    exist. Nothing is written then.
    """
    _check(facts, utcnow())
    if corrects is not None and db.session.get(BreachLogEntry, corrects) is None:
        raise BreachLogError(f"There is no breach log entry #{corrects} to correct.")
    entry = BreachLogEntry(
        recorded_at=utcnow(),
        recorded_by=audit.actor_name(actor)[:320],
        corrects_id=corrects,
        **{name: getattr(facts, name) for name in BreachFacts.__dataclass_fields__},
    )
    entry.reasoning = entry.reasoning or ""
    db.session.add(entry)
    db.session.flush()
    audit.record(actor, AUDIT_ADD, f"breach:{entry.id}", corrects=corrects)
    return entry


def _check(facts: BreachFacts, now: datetime) -> None:
    for name, label in _TEXTS.items():
        if not (getattr(facts, name) or "").strip():
            raise BreachLogError(f"Describe {label}.")
    for name in (*_TEXTS, "reasoning"):
        if audit.ADDRESS_PATTERN.search(getattr(facts, name) or ""):
            raise BreachLogError(
                "Do not write email addresses in the breach log (it is kept for good and "
                "cannot be edited): describe the people by category and number."
            )
    if facts.discovered_at is None:
        raise BreachLogError("Give the date and time the breach was discovered.")
    for name in ("occurred_at", "discovered_at", "authority_notified_at"):
        when = getattr(facts, name)
        if when is not None and when > now:
            raise BreachLogError(f"The {name.replace('_', ' ')} date is in the future.")
    if facts.occurred_at and facts.occurred_at > facts.discovered_at:
        raise BreachLogError("A breach cannot be discovered before it happened.")
    if facts.people_affected is not None and facts.people_affected < 0:
        raise BreachLogError("The number of people affected cannot be negative.")
    if facts.authority_notified_at and not facts.authority_notified:
        raise BreachLogError("A notification date is given, but not that it was notified.")


def entries() -> list[BreachLogEntry]:
    """Every entry, newest first."""
    query = select(BreachLogEntry).order_by(BreachLogEntry.id.desc())
    return list(db.session.scalars(query))


def corrected_by(rows: list[BreachLogEntry]) -> dict[int, list[int]]:
    """For each corrected entry's id, the ids of the entries correcting it, oldest first."""
    found: dict[int, list[int]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.corrects_id is not None:
            found.setdefault(row.corrects_id, []).append(row.id)
    return found


def overdue(rows: list[BreachLogEntry], now: datetime) -> set[int]:
    """Ids of the latest entries (not corrected since) whose breach is past 72 hours
    without a notification to the authority (`compliance.breach_notification_overdue`)."""
    corrected = corrected_by(rows)
    return {
        row.id
        for row in rows
        if row.id not in corrected
        and compliance.breach_notification_overdue(row.discovered_at, row.authority_notified, now)
    }


CSV_FIELDS = (
    "id",
    "recorded_at",
    "recorded_by",
    "corrects_id",
    "occurred_at",
    "discovered_at",
    "nature",
    "data_categories",
    "people_affected",
    "consequences",
    "measures",
    "authority_notified",
    "authority_notified_at",
    "people_informed",
    "reasoning",
)


def csv_lines() -> Iterator[str]:
    """The whole log as CSV (header first), oldest entry first, one line at a time."""
    writer = reports.new_writer()
    yield reports.csv_line(writer, CSV_FIELDS)
    query = select(BreachLogEntry).order_by(BreachLogEntry.id)
    for row in db.session.scalars(query):
        yield reports.csv_line(writer, [_cell(getattr(row, name)) for name in CSV_FIELDS])


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


# --- append-only, also against a careless caller ------------------------------------------


@event.listens_for(BreachLogEntry, "before_update")
def _refuse_update(mapper, connection, target) -> None:
    raise AppendOnlyError("breach log entries are never changed: record a correction instead")


@event.listens_for(BreachLogEntry, "before_delete")
def _refuse_delete(mapper, connection, target) -> None:
    raise AppendOnlyError("breach log entries are never deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state) -> None:
    """`update(BreachLogEntry)` / `delete(BreachLogEntry)` statements skip the mapper
    events above; refuse them here."""
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ is BreachLogEntry:
        raise AppendOnlyError("breach log entries are never changed or deleted")
