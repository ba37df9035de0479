"""One claimed batch: the pace, the results and how they are written back together."""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, null, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import OperationalError

from .. import bounces, campaigns, compliance, messages
from ..clock import utcnow
from ..extensions import db
from ..models import Campaign, Delivery, DeliveryStatus, Subscriber
from . import changes, dbapi, retry
from .transports import ACCEPTED, REFUSED_PERMANENTLY, Outcome, Transport

DB_RETRY_SECONDS = 0.5  # 0.5, 1, 1.5, 2 s between writes (docs/RELIABILITY.md)


@dataclass
class Pacer:
    """NEWSLETTER_SEND_RATE: at most `rate` messages a second (0: no limit)."""

    rate: float
    stop_event: threading.Event | None = None
    next_at: float = field(default_factory=time.monotonic)

    def wait(self) -> None:
        if self.rate <= 0:
            return
        delay = self.next_at - time.monotonic()
        if delay > 0:
            if self.stop_event is not None:
                self.stop_event.wait(delay)
            else:
                time.sleep(delay)
        self.next_at = max(self.next_at, time.monotonic() - 1.0 / self.rate) + 1.0 / self.rate


@dataclass
class Batch:
    """The work of one claimed batch and its results, written back together."""

    transport: Transport
    pacer: Pacer
    prepared: dict[tuple[int, str], messages.PreparedCampaign]
    # The rule-4 check of each prepared campaign's messages (`build.checks_for`), same keys.
    checks: dict[tuple[int, str], compliance.PreparedMessagesCheck] = field(default_factory=dict)
    worker_id: str = ""
    lease: timedelta = timedelta(minutes=5)
    lease_until: datetime | None = None
    results: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # Tells whether anything rule 3 reads changed since the batch's read (changes.py);
    # while unsure (or UNWATCHED), every message is re-checked.
    watch: changes.Watcher = changes.UNWATCHED

    def keep_lease(self, deliveries: list, position: int) -> None:
        """Extend the claim on the untried rest of the batch when half the lease is gone.

        A slow SMTP server must not let the lease run out under a live worker (another
        worker would then send the same messages).
        """
        now = utcnow()
        if self.lease_until is None or self.lease_until - now > self.lease / 2:
            return
        self.write()  # results so far first: the commit below must not lose them
        self.lease_until = now + self.lease
        untried = [d.id for d in deliveries[position:]]
        db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(untried), Delivery.claimed_by == self.worker_id)
            .values(claimed_until=self.lease_until)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()

    def record(self, delivery, status: str, error: str | None = None, tried: bool = True):
        now = utcnow()
        attempts = delivery.attempts + (1 if tried else 0)
        next_attempt = None
        if status == DeliveryStatus.DEFERRED:
            if retry.gave_up(attempts):
                status, error = DeliveryStatus.FAILED, f"gave up after {attempts} attempts: {error}"
            else:
                next_attempt = retry.next_attempt_at(now, attempts)
        self.results.append(
            {
                "delivery_id": delivery.id,
                "status": status,
                "attempts": attempts,
                "next_attempt_at": next_attempt,
                "sent_at": now if status == DeliveryStatus.SENT else None,
                "last_error": error[:500] if error else None,
            }
        )
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.transport.flush_every and len(self.results) >= self.transport.flush_every:
            self.write()

    def settle(self, outcomes: list[Outcome]) -> None:
        """Record what the transport answered: accepted, a refusal, or no answer at all."""
        for outcome in outcomes:
            delivery = outcome.tag
            if outcome.kind == ACCEPTED:
                self.record(delivery, DeliveryStatus.SENT)
                continue
            if outcome.code:  # the reply, without the recipient's address
                reason = f"{outcome.code} {reply_for_storage(outcome, recipient_address(delivery))}"
            else:
                reason = f"connection: {outcome.text}"
            if outcome.kind == REFUSED_PERMANENTLY:  # a hard bounce at once: to suppression
                bounces.record_rejection(delivery.id, delivery.attempts, reason)
                self.record(delivery, DeliveryStatus.FAILED, reason)
            else:
                self.record(delivery, DeliveryStatus.DEFERRED, reason)

    def write(self, tries: int = 1) -> None:
        """Write the results so far and commit (the batched status update).

        With `tries` > 1 a lost database connection is tried again after a short wait:
        these results are what keeps the messages already sent from being sent again.
        """
        for attempt in range(1, tries + 1):
            try:
                _write_results(self.results)
                db.session.commit()
            except OperationalError:
                db.session.rollback()
                if attempt == tries:
                    raise
                time.sleep(DB_RETRY_SECONDS * attempt)
            else:
                self.results = []
                return


_RESULT_COLUMNS = ("status", "attempts", "next_attempt_at", "sent_at", "last_error")
_RESULT_SAMPLE = dict.fromkeys(("delivery_id", *_RESULT_COLUMNS))


def _write_results(results: list[dict]) -> None:
    """The batch's outcomes in the database: on PostgreSQL one UPDATE from arrays (an
    executemany there is a statement a row, each parsed, planned and answered: 500 of
    them cost about 30 us a row of the worker's CPU and more of the server's); on SQLite
    an executemany, which its C loop runs in about 11 us a row."""
    if not results:
        return
    if db.engine.dialect.name == "postgresql":
        # A delivery recorded twice keeps its last outcome, as the executemany would.
        rows = {row["delivery_id"]: row for row in results}.values()
        columns = {name: [row[name] for row in rows] for name in _RESULT_SAMPLE}
        db.session.execute(_array_result_statement(), columns)
    else:
        dbapi.prepared(_result_statement, _RESULT_SAMPLE).execute_many(results)


@functools.cache
def _array_result_statement():
    """`_result_statement` for many deliveries at once, from one array a column
    (PostgreSQL's `unnest`, the arrays zipped into rows)."""
    table = Delivery.__table__
    names = ("delivery_id", *_RESULT_COLUMNS)
    arrays = [
        bindparam(name, type_=ARRAY(table.c[_COLUMN_OF.get(name, name)].type)) for name in names
    ]
    rows = func.unnest(*arrays).table_valued(*names).render_derived(name="result")
    return (
        update(table)
        .where(table.c.id == rows.c.delivery_id)
        .values({name: rows.c[name] for name in _RESULT_COLUMNS})
        .values(claimed_by=null(), claimed_until=null())
    )


_COLUMN_OF = {"delivery_id": "id"}


@functools.cache
def _result_statement():
    """The batched status update: one delivery's outcome, by id (`Batch.record`)."""
    table = Delivery.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("delivery_id"))
        .values({name: bindparam(name) for name in _RESULT_COLUMNS})
        .values(claimed_by=null(), claimed_until=null())
    )


def reply_for_storage(outcome: Outcome, address: str | None = None) -> str:
    """The server's reply text as it may be stored: servers quote the recipient ("550
    5.1.1 <jan@example.be>: unknown"), so every copy of the address goes first
    (`compliance.smtp_reply_for_storage`)."""
    addresses = [address] if address else []
    addresses += outcome.quoted
    return compliance.smtp_reply_for_storage(outcome.text, *addresses) or ""


def recipient_address(delivery) -> str | None:
    """The address a refused delivery was for (read only when a server refuses)."""
    if delivery.subscriber_id is None:
        return None
    query = select(Subscriber.email).where(Subscriber.id == delivery.subscriber_id)
    return db.session.scalar(query)


def load(ids: list[int]):
    return db.session.execute(
        select(
            Delivery.id,
            Delivery.campaign_id,
            Delivery.subscriber_id,
            Delivery.attempts,
            Campaign.topic_id,
            Campaign.status.label("campaign_status"),
        )
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    ).all()


def finish_campaigns(campaign_ids: set[int]) -> None:
    for campaign_id in campaign_ids:
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is not None:
            db.session.refresh(campaign)
            campaigns.finish_if_done(campaign)
    db.session.commit()
