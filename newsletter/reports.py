"""What a regulator asks for in bulk: the consent register and the suppression report.

The consent register proves the basis of every active subscriber (GDPR Art. 5(2),
7(1): the controller must be able to demonstrate consent; ePrivacy 13(2) for the
existing-customer basis): one CSV line per consent event, keyed by the address hash so
that events from before an earlier opt-out are included, with the consent text version
and its SHA-256, the time, the method (event and source), the IP and user agent as
recorded and the topics; a subscriber without any event still gets a line, so nobody
active is missing. It is streamed in batches: memory stays flat for a large list.

The suppression report counts the suppression list by month, reason and channel, with
the first and last date: no address, no hash.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from .addresses import address_hash
from .extensions import db
from .models import ConsentEvent, Subscriber, SubscriberStatus, Subscription, Suppression

AUDIT_CONSENT_REGISTER = "consent-register.export"
AUDIT_SUPPRESSION_REPORT = "suppression-report.export"

BATCH = 500

REGISTER_FIELDS = (
    "subscriber",
    "email",
    "status",
    "source",
    "signed_up_at",
    "confirmed_at",
    "consented_at",
    "purchased_at",
    "lists",
    "event",
    "event_at",
    "consent_text_version",
    "consent_text_sha256",
    "event_source",
    "ip",
    "user_agent",
    "event_topics",
    "event_basis",
    "event_detail",
)

# A cell starting with one of these is a formula in a spreadsheet (CSV injection): the
# name, user agent or source came from a public form.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_line(writer_buffer: tuple, values: Iterable) -> str:
    """One CSV line from `values` (cells that a spreadsheet would run are quoted with ')."""
    writer, buffer = writer_buffer
    buffer.seek(0)
    buffer.truncate()
    writer.writerow([_safe(value) for value in values])
    return buffer.getvalue()


def new_writer() -> tuple:
    buffer = io.StringIO()
    return csv.writer(buffer), buffer


def _safe(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def active_subscriber_count() -> int:
    """How many people the consent register covers."""
    query = select(func.count(Subscriber.id)).where(Subscriber.status == SubscriberStatus.ACTIVE)
    return db.session.scalar(query) or 0


def consent_register_lines() -> Iterator[str]:
    """The consent register as CSV lines, header first, every active subscriber."""
    writer = new_writer()
    yield csv_line(writer, REGISTER_FIELDS)
    for people in _active_batches():
        history = _events_by_hash([address_hash(p.email) for p in people])
        for person in people:
            base = _person_cells(person)
            events = history.get(address_hash(person.email), [])
            for event in events or [None]:
                yield csv_line(writer, base + _event_cells(event))


def _active_batches() -> Iterator[list[Subscriber]]:
    last = 0
    while True:
        query = (
            select(Subscriber)
            .where(Subscriber.status == SubscriberStatus.ACTIVE, Subscriber.id > last)
            .options(selectinload(Subscriber.subscriptions).joinedload(Subscription.topic))
            .order_by(Subscriber.id)
            .limit(BATCH)
        )
        people = list(db.session.scalars(query))
        if not people:
            return
        yield people
        last = people[-1].id


def _events_by_hash(hashes: list[str]) -> dict[str, list[ConsentEvent]]:
    query = (
        select(ConsentEvent)
        .where(ConsentEvent.subject_hash.in_(hashes))
        .options(joinedload(ConsentEvent.consent_text))
        .order_by(ConsentEvent.occurred_at, ConsentEvent.id)
    )
    found: dict[str, list[ConsentEvent]] = {}
    for event in db.session.scalars(query):
        found.setdefault(event.subject_hash, []).append(event)
    return found


def _person_cells(person: Subscriber) -> list:
    lists = "; ".join(
        f"{s.topic.slug} ({s.basis}, "
        + (f"confirmed {s.confirmed_at:%Y-%m-%d}" if s.confirmed_at else "not confirmed")
        + ")"
        for s in sorted(person.subscriptions, key=lambda s: s.topic.slug)
    )
    return [
        person.public_id,
        person.email,
        person.status,
        person.source,
        person.created_at,
        person.confirmed_at,
        person.consented_at,
        person.purchased_at,
        lists,
    ]


def _event_cells(event: ConsentEvent | None) -> list:
    if event is None:
        return ["(no consent event recorded)"] + [""] * 9
    text = event.consent_text
    return [
        event.kind,
        event.occurred_at,
        text.version if text else "",
        text.sha256 if text else "",
        event.source,
        event.ip,
        event.user_agent,
        "; ".join(str(t) for t in event.topics or []),
        event.basis,
        json.dumps(event.detail, ensure_ascii=False, sort_keys=True) if event.detail else "",
    ]


# --- the suppression report ---------------------------------------------------------------


@dataclass
class SuppressionCount:
    month: str  # YYYY-MM
    reason: str
    channel: str
    count: int
    first: datetime
    last: datetime


SUPPRESSION_FIELDS = ("month", "reason", "channel", "count", "first", "last")


def suppression_report() -> list[SuppressionCount]:
    """The suppression list counted by month, reason and channel, oldest month first.

    Reads only the date, reason and channel of each entry (never the hash), streamed.
    """
    rows: dict[tuple[str, str, str], SuppressionCount] = {}
    query = select(Suppression.created_at, Suppression.reason, Suppression.channel)
    for created_at, reason, channel in db.session.execute(query.execution_options(yield_per=1000)):
        key = (f"{created_at:%Y-%m}", reason, channel)
        row = rows.get(key)
        if row is None:
            rows[key] = SuppressionCount(*key, 1, created_at, created_at)
            continue
        row.count += 1
        row.first, row.last = min(row.first, created_at), max(row.last, created_at)
    return [rows[key] for key in sorted(rows)]


def suppression_report_lines(report: list[SuppressionCount]) -> Iterator[str]:
    """The report as CSV lines, header first."""
    writer = new_writer()
    yield csv_line(writer, SUPPRESSION_FIELDS)
    for row in report:
        yield csv_line(writer, [getattr(row, name) for name in SUPPRESSION_FIELDS])
