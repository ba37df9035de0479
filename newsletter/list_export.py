"""The list export (issue 16): every active subscriber, or one topic's, as CSV or JSON.

The columns are those `flask subscribers import` reads (`imports.COLUMNS`), so that an
exported list imports again without losing the consent evidence (docs/IMPORTS.md,
"Export and re-import"):

* a row per person and basis: the consent lists in one row, the existing-customer lists
  in another (`--basis` exports one basis; the import takes one basis per run);
* consent rows carry the evidence of the newest consent: an imported consent's evidence
  exactly as it was imported; a consent given here (double opt-in, the preferences page,
  a re-consent) as the exact wording agreed to (`consent_text`), a reference to its
  version (`consent_text_ref`), where (the signup's source and BASE_URL), how (the
  method, the times and the IP addresses and browsers recorded) and this system;
* existing-customer rows carry `purchased_at` and the imported `optout_offered`.

Pending (unconfirmed) people are not exported: they have not consented. Rows are read
in chunks (flat memory) and written as they come (a streamed response or stdout).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from flask import current_app
from sqlalchemy import exists, func, select
from sqlalchemy.orm import selectinload

from .clock import utcnow
from .extensions import db
from .imports import COLUMNS
from .models import (
    Basis,
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)

CHUNK = 500
CONSENT_KINDS = ("confirm", "import", "preferences", "renew")
FORMATS = ("csv", "json")
AUDIT_ACTION = "subscribers.export-list"
_HOW = {
    "preferences": "ticked the box beside the consent text on the preferences page "
    "(reached from a signed link in our mail)",
    "renew": "pressed the re-consent button (reached from a signed link in our mail)",
}


def _subscriber_filter(basis: str, topic: Topic | None):
    condition = (
        (Subscription.subscriber_id == Subscriber.id)
        & Subscription.confirmed_at.is_not(None)
        & (Subscription.basis == basis)
    )
    if topic is not None:
        condition = condition & (Subscription.topic_id == topic.id)
    return (Subscriber.status == SubscriberStatus.ACTIVE) & exists().where(condition)


def _bases(basis: str | None) -> tuple[str, ...]:
    return Basis.ALL if basis is None else (basis,)


def count_rows(topic: Topic | None = None, basis: str | None = None) -> int:
    """How many rows `rows` yields (for the audit log, before a streamed response)."""
    return sum(
        db.session.scalar(
            select(func.count()).select_from(Subscriber).where(_subscriber_filter(b, topic))
        )
        or 0
        for b in _bases(basis)
    )


def rows(topic: Topic | None = None, basis: str | None = None) -> Iterator[dict]:
    """The export's rows (dicts keyed by `imports.COLUMNS`), consent rows first."""
    stamp = utcnow().date().isoformat()
    for one_basis in _bases(basis):
        last_id = 0
        while True:
            chunk = list(
                db.session.scalars(
                    select(Subscriber)
                    .where(_subscriber_filter(one_basis, topic), Subscriber.id > last_id)
                    .order_by(Subscriber.id)
                    .limit(CHUNK)
                    .options(
                        selectinload(Subscriber.subscriptions).selectinload(Subscription.topic)
                    )
                )
            )
            if not chunk:
                break
            last_id = chunk[-1].id
            events = _events_of(chunk)
            for subscriber in chunk:
                yield _row(subscriber, one_basis, topic, events.get(subscriber.id, []), stamp)
            _forget(chunk, events)


def _forget(chunk: list[Subscriber], events: dict[int, list[ConsentEvent]]) -> None:
    """Let the session drop a chunk once written (flat memory over a large list)."""
    for subscriber in chunk:
        db.session.expunge(subscriber)  # cascades to its subscriptions
    for found in events.values():
        for event in found:
            db.session.expunge(event)


def _events_of(subscribers: list[Subscriber]) -> dict[int, list[ConsentEvent]]:
    """Each subscriber's consent events, newest first, with the signups they confirm."""
    found: dict[int, list[ConsentEvent]] = {}
    query = (
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id.in_([s.id for s in subscribers]))
        .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
        .options(
            selectinload(ConsentEvent.consent_text), selectinload(ConsentEvent.import_evidence)
        )
    )
    for event in db.session.scalars(query):
        found.setdefault(event.subscriber_id, []).append(event)
    return found


def _row(subscriber, basis: str, topic, events: list[ConsentEvent], stamp: str) -> dict:
    held = [
        s.topic.slug
        for s in subscriber.subscriptions
        if s.confirmed_at is not None
        and s.basis == basis
        and (topic is None or s.topic_id == topic.id)
    ]
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        email=subscriber.email,
        name=subscriber.name or "",
        topics=";".join(held),
        locale=subscriber.locale,
    )
    if basis == Basis.EXISTING_CUSTOMER:
        row["purchased_at"] = _iso(subscriber.purchased_at)
        evidence = _newest_import_evidence(events, Basis.EXISTING_CUSTOMER)
        row["optout_offered"] = (evidence.optout_offered or "") if evidence else ""
        return row
    event = next((e for e in events if e.kind in CONSENT_KINDS and e.basis == Basis.CONSENT), None)
    row["consented_at"] = _iso(subscriber.consented_at or (event.occurred_at if event else None))
    if event is not None:
        row.update(_consent_evidence(event, events, stamp))
    return row


def _newest_import_evidence(events: list[ConsentEvent], basis: str):
    for event in events:
        if event.kind == "import" and event.import_evidence is not None:
            if event.import_evidence.basis == basis:
                return event.import_evidence
    return None


def _consent_evidence(event: ConsentEvent, events: list[ConsentEvent], stamp: str) -> dict:
    """The import's evidence columns for one consent event."""
    if event.kind == "import":
        evidence = event.import_evidence
        if evidence is None:
            return {}
        return {
            "consent_text": evidence.consent_text or "",
            "consent_text_ref": evidence.consent_text_ref or "",
            "consent_where": evidence.consent_where or "",
            "consent_how": evidence.consent_how or "",
            "consent_system": evidence.consent_system or "",
        }
    config = current_app.config
    base = config["BASE_URL"]
    text = event.consent_text
    signup = None
    if event.kind == "confirm":
        signup_id = (event.detail or {}).get("signup_event_id")
        signup = next((e for e in events if e.id == signup_id), None)
    origin = signup or event
    return {
        "consent_text": text.text if text else "",
        "consent_text_ref": (
            f"consent text version {text.version} ({text.locale}) of {base}" if text else ""
        ),
        "consent_where": _cell(f"{origin.source} ({base})"),
        "consent_how": _cell(_how(event, signup)),
        "consent_system": _cell(
            f"{config['ORGANIZATION_NAME']} newsletter at {base}, list export of {stamp}", 200
        ),
    }


def _how(event: ConsentEvent, signup: ConsentEvent | None) -> str:
    if event.kind == "confirm":
        first = (
            f"signed up {_iso(signup.occurred_at)}{_client(signup)}; " if signup else "signed up; "
        )
        return (
            f"double opt-in: {first}confirmed {_iso(event.occurred_at)} with the link "
            f"mailed to the address{_client(event)}"
        )
    return f"{_HOW.get(event.kind, event.kind)}, {_iso(event.occurred_at)}{_client(event)}"


def _client(event: ConsentEvent) -> str:
    parts = []
    if event.ip:
        parts.append(f"IP {event.ip}")
    if event.user_agent:
        parts.append(f"browser {event.user_agent[:90]}")
    return f" ({', '.join(parts)})" if parts else ""


def _cell(text: str, limit: int = 500) -> str:
    """One line, within the import's limit for evidence cells."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _iso(value) -> str:
    return value.isoformat() if value else ""


# --- writers ------------------------------------------------------------------------------


def csv_lines(items: Iterable[dict]) -> Iterator[str]:
    """The rows as CSV text, a line at a time (header first)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for item in items:
        yield _drain(buffer)
        writer.writerow(item)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return value


def json_lines(items: Iterable[dict]) -> Iterator[str]:
    """The rows as one JSON array, an element at a time."""
    yield "["
    for number, item in enumerate(items):
        yield ("," if number else "") + "\n" + json.dumps(item, ensure_ascii=False)
    yield "\n]\n"


def lines(fmt: str, topic: Topic | None = None, basis: str | None = None) -> Iterator[str]:
    """The export in `fmt` ("csv" or "json"), as text chunks."""
    writer = csv_lines if fmt == "csv" else json_lines
    return writer(rows(topic, basis))
