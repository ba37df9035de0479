"""A chunk of rows: bulk look-ups, the decisions, bulk writes."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.orm import selectinload

from .. import compliance
from ..addresses import address_hash
from ..extensions import db
from ..models import (
    Basis,
    Channel,
    ConsentEvent,
    ConsentKind,
    ImportEvidence,
    LapsedBasis,
    Subscriber,
    SubscriberStatus,
    Subscription,
    new_public_id,
)

# The consent evidence columns (basis consent) and the customer's (existing-customer);
from .report import (
    CONSENT_EVIDENCE,
    CUSTOMER_EVIDENCE,
    SKIPPED,
    UNCHANGED,
    ImportContext,
    ImportRow,
    RowOutcome,
    SkipRow,
)
from .rows import decide_row, parse_row, row_address

# --- a chunk: look up, decide, write --------------------------------------------------------


def import_chunk(chunk: list[tuple[int, dict]], ctx: ImportContext, dry_run: bool) -> None:
    outcomes: list[RowOutcome] = []  # reported in line order once the chunk is decided
    addressed = []  # (line, cells, address, hash) of the rows with a valid address
    for line, cells in chunk:
        try:
            address = row_address(cells, ctx)
        except SkipRow as skip:
            outcomes.append(RowOutcome(line, SKIPPED, str(skip), _raw_email(cells)))
        else:
            addressed.append((line, cells, address, address_hash(address)))
    first = ctx.seen.first_lines([(digest, line) for line, _, _, digest in addressed])
    rows: list[ImportRow] = []
    for line, cells, address, digest in addressed:
        try:
            if first[digest] != line:
                raise SkipRow(f"duplicate of line {first[digest]}")
            rows.append(parse_row(line, cells, address, digest, ctx))
        except SkipRow as skip:
            outcomes.append(RowOutcome(line, SKIPPED, str(skip), address))
    suppressed = _suppressed([r.digest for r in rows])
    lapsed = _lapsed([r.digest for r in rows], ctx.basis)
    existing = _existing([r.address for r in rows])
    accepted = []
    for row in rows:
        try:
            if row.digest in suppressed:
                raise SkipRow(f"address is suppressed ({suppressed[row.digest]}); never re-added")
            if row.digest in lapsed:
                _check_not_lapsed(row, lapsed[row.digest], ctx)
            decide_row(row, existing.get(row.address), ctx)
        except SkipRow as skip:
            outcomes.append(RowOutcome(row.line, SKIPPED, str(skip), row.address))
            continue
        accepted.append(row)
        outcomes.append(RowOutcome(row.line, row.outcome, row.note, row.address))
    for outcome in sorted(outcomes, key=lambda outcome: outcome.line):
        ctx.report.add(outcome)
    if not dry_run:
        write_chunk(accepted, existing, ctx)


def _raw_email(cells: dict) -> str:
    return str(cells.get("email", ""))[:320]


def _suppressed(digests: list[str]) -> dict[str, str]:
    """{hash: reason} of the addresses suppressed on email (opted out, objected, lapsed)."""
    return compliance.objection_reasons(digests, Channel.EMAIL)


def _lapsed(digests: list[str], basis: str) -> dict[str, LapsedBasis]:
    """The markers of this basis having lapsed for these hashes."""
    if not digests:
        return {}
    query = select(LapsedBasis).where(
        LapsedBasis.address_hash.in_(digests), LapsedBasis.basis == basis
    )
    return {m.address_hash: m for m in db.session.scalars(query)}


def _check_not_lapsed(row: ImportRow, marker: LapsedBasis, ctx: ImportContext) -> None:
    evidence = row.purchased_at if ctx.basis == Basis.EXISTING_CUSTOMER else row.consented_at
    if compliance.imported_evidence_already_lapsed(evidence, marker.evidence_date):
        lapsed = marker.evidence_date.date().isoformat() if marker.evidence_date else "none"
        column = "purchased_at" if ctx.basis == Basis.EXISTING_CUSTOMER else "consented_at"
        raise SkipRow(
            f"the {ctx.basis} basis of this person lapsed on "
            f"{marker.lapsed_at.date().isoformat()} (evidence of {lapsed}); only a newer "
            f"{column} can bring them back"
        )


def _existing(addresses: list[str]) -> dict[str, Subscriber]:
    if not addresses:
        return {}
    query = (
        select(Subscriber)
        .options(selectinload(Subscriber.subscriptions))
        .where(Subscriber.email.in_(addresses))
    )
    return {s.email: s for s in db.session.scalars(query)}


def write_chunk(rows: list[ImportRow], existing: dict[str, Subscriber], ctx: ImportContext) -> None:
    """Insert new subscribers in bulk, update known ones, record events and evidence."""
    new = [r for r in rows if r.address not in existing]
    ids = _insert_subscribers(new, ctx)
    for row in rows:
        if row.address in existing and row.outcome != UNCHANGED:
            subscriber = existing[row.address]
            _update_subscriber(subscriber, row, ctx)
            ids[row.address] = subscriber.id
    db.session.flush()
    _insert_subscriptions(new, ids, ctx)
    written = [r for r in rows if r.outcome != UNCHANGED]
    events = _insert_events(written, ids, ctx)
    _insert_evidence(written, ids, events, ctx)


def _insert_subscribers(rows: list[ImportRow], ctx: ImportContext) -> dict[str, int]:
    if not rows:
        return {}
    values = [
        {
            "public_id": new_public_id(),
            "email": r.address,
            "name": r.name,
            "locale": r.locale,
            "status": SubscriberStatus.ACTIVE,
            "source": ctx.source,
            "created_at": ctx.now,
            "confirmed_at": r.consented_at,
            "consented_at": r.consented_at,
            "purchased_at": r.purchased_at,
        }
        for r in rows
    ]
    result = db.session.execute(
        insert(Subscriber).returning(Subscriber.email, Subscriber.id), values
    )
    return dict(result.all())


def _insert_subscriptions(rows: list[ImportRow], ids: dict[str, int], ctx: ImportContext) -> None:
    values = [
        {
            "subscriber_id": ids[r.address],
            "topic_id": t.id,
            "basis": ctx.basis,
            "created_at": ctx.now,
            "confirmed_at": _effective_from(r, ctx),
        }
        for r in rows
        for t in r.add_topics
    ]
    if values:
        db.session.execute(insert(Subscription), values)


def _effective_from(row: ImportRow, ctx: ImportContext) -> datetime | None:
    """When a subscription from this row takes effect: the date of the consent's
    evidence, or now for the existing-customer exception."""
    if ctx.basis == Basis.EXISTING_CUSTOMER:
        return ctx.now
    return row.consented_at


def _update_subscriber(subscriber: Subscriber, row: ImportRow, ctx: ImportContext) -> None:
    """Add topics and raise evidence on a known subscriber; never lower anything."""
    effective = _effective_from(row, ctx)
    held = {s.topic_id: s for s in subscriber.subscriptions}
    for topic in row.add_topics:
        current = held.get(topic.id)
        if current is None:
            subscriber.subscriptions.append(
                Subscription(
                    topic=topic, basis=ctx.basis, created_at=ctx.now, confirmed_at=effective
                )
            )
        else:  # consent with evidence replaces an unconfirmed or soft-opt-in footing
            current.basis, current.confirmed_at = Basis.CONSENT, effective
    if effective is not None and subscriber.status == SubscriberStatus.PENDING:
        subscriber.status = SubscriberStatus.ACTIVE
    if row.consented_at:  # evidence of a consent: it starts (or keeps) the re-consent clock
        subscriber.consented_at = compliance.reconsent_clock_after(
            subscriber.consented_at, row.consented_at, _covers_every_consent_list(subscriber, row)
        )
        subscriber.confirmed_at = subscriber.confirmed_at or row.consented_at
    if row.purchased_at and (subscriber.purchased_at or row.purchased_at) <= row.purchased_at:
        subscriber.purchased_at = row.purchased_at
    subscriber.name = subscriber.name or row.name


def _covers_every_consent_list(subscriber: Subscriber, row: ImportRow) -> bool:
    """Does the row's consent cover every consent list the person holds?"""
    row_topics = {topic.id for topic in row.topics}
    return all(
        s.topic_id in row_topics
        for s in subscriber.subscriptions
        if s.basis == Basis.CONSENT and s.confirmed_at is not None
    )


def _insert_events(
    rows: list[ImportRow], ids: dict[str, int], ctx: ImportContext
) -> dict[int, int]:
    """One "import" consent event per row written; returns subscriber id -> event id."""
    if not rows:
        return {}
    values = [_event_values(r, ids[r.address], ctx) for r in rows]
    result = db.session.execute(
        insert(ConsentEvent).returning(ConsentEvent.subscriber_id, ConsentEvent.id), values
    )
    return dict(result.all())


def _event_values(row: ImportRow, subscriber_id: int, ctx: ImportContext) -> dict:
    evidence = _evidence_date(row, ctx)
    return {
        "subscriber_id": subscriber_id,
        "subject_hash": row.digest,
        "kind": ConsentKind.IMPORT,
        "occurred_at": ctx.now,
        # The wording agreed to earlier is in the event's ImportEvidence (consent_text or
        # consent_text_ref), not one of our consent texts: none was shown by us.
        "consent_text_id": None,
        "topics": [t.slug for t in (row.add_topics or row.topics)],
        "basis": ctx.basis,
        "source": ctx.source,
        "detail": {
            "batch": ctx.report.batch,
            "outcome": row.outcome,
            "evidence": "purchased_at" if ctx.basis == Basis.EXISTING_CUSTOMER else "consented_at",
            "evidence_date": evidence.isoformat() if evidence else None,
            "declaration": compliance.OWN_CONTACTS_DECLARATION.format(
                org=current_app.config["ORGANIZATION_NAME"]
            ),
            "declared_by": ctx.actor,
        },
    }


def _evidence_date(row: ImportRow, ctx: ImportContext) -> datetime | None:
    return row.purchased_at if ctx.basis == Basis.EXISTING_CUSTOMER else row.consented_at


def _insert_evidence(
    rows: list[ImportRow], ids: dict[str, int], events: dict[int, int], ctx: ImportContext
) -> None:
    """The ImportEvidence of each event: what the row proves, kept with the event."""
    if not rows:
        return
    customer = ctx.basis == Basis.EXISTING_CUSTOMER
    columns = CUSTOMER_EVIDENCE if customer else CONSENT_EVIDENCE
    values = [
        {
            "consent_event_id": events[ids[r.address]],
            "basis": ctx.basis,
            "given_at": _evidence_date(r, ctx),
            **dict.fromkeys((*CONSENT_EVIDENCE, *CUSTOMER_EVIDENCE)),
            **{column: r.evidence[column] for column in columns},
            "declared_by": ctx.actor,
        }
        for r in rows
    ]
    db.session.execute(insert(ImportEvidence), values)
