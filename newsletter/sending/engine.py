"""The sending engine: claim a batch, build and check it, hand it over, write it back.

The engine, like `jobs`, commits: a claim is committed before anything is sent, each
batch's results are committed together (on the outbox, each message), and a finished
campaign is committed as such. The domain functions it calls only flush. The pieces:
`claims` (which deliveries, leases), `recipients` (rules 1 and 3, in bulk and again
right before each hand-off), `build` (rule 4, signing), `batch` (results, retry policy
from `retry`), `transports` (SMTP or the outbox, chosen by configuration).
"""

from __future__ import annotations

import logging
import threading

from flask import Flask, current_app
from sqlalchemy.exc import OperationalError

from .. import bounces
from ..clock import utcnow
from ..extensions import db
from ..models import DeliveryStatus
from . import build, changes, claims, recipients, transports
from .batch import Batch, Pacer, finish_campaigns, load
from .transports import Handoff

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
IDLE_POLL_SECONDS = 1.0
DB_WRITE_TRIES = 5  # a lost database connection: results are written again, after
# 0.5, 1, 1.5, 2 s (batch.DB_RETRY_SECONDS; docs/RELIABILITY.md)


def deliver_group(batch: Batch, group: list) -> None:
    """Re-check the recipients of these built messages (`ready` triples) and hand the
    lawful ones to the transport in one write right after; record the outcomes (at once,
    or with a window of pipelined messages when the replies are read).

    A group is as large as the transport writes at once (`Transport.group`; one with a
    rate limit, or through the outbox), so each message is re-checked right before its
    own bytes leave, and an opt-out committed before then stops it (SPEC rule 3).
    """
    for _ in group:
        batch.pacer.wait()  # before the re-check: nothing waits between it and the write
    if batch.watch.quiet():  # nothing rule 3 reads has changed since the batch's read
        current = [recipient for _, recipient, _ in group]
    else:  # an opt-out a moment ago stops its message
        current = recipients.still_lawful([(delivery, person) for delivery, person, _ in group])
    handoffs = []
    for (delivery, recipient, raw), now in zip(group, current, strict=True):
        if now is None:
            batch.record(delivery, DeliveryStatus.SKIPPED, "no lawful basis any more", False)
            continue
        if now != recipient:  # changed since the batch was read (e.g. name): build again
            recipient, raw = now, build.build(batch, delivery, now)
            if raw is None:
                continue
        prepared = build.prepared_for(batch, delivery.campaign_id, recipient.locale)  # cached
        # VERP: a bounce names this delivery (newsletter.bounces); unset: the plain sender.
        envelope_from = bounces.envelope_sender(delivery.id) or prepared.envelope_from
        handoffs.append(Handoff(envelope_from, recipient.email, prepared.subject, raw, delivery))
    if handoffs:
        batch.settle(batch.transport.send_group(handoffs))


def _send_batch(batch: Batch, deliveries, stop_event: threading.Event | None) -> None:
    """Build, check and hand over one claimed batch, then write its results."""
    transport = batch.transport
    try:
        batch.watch.begin(db.engine)  # before the recipients are read (changes.Watcher)
        ready = build.build_batch(batch, deliveries, recipients.lawful_recipients(deliveries))
        untried = [delivery for delivery, _, _ in ready]
        position = 0
        while position < len(ready):
            batch.keep_lease(untried, position)
            if stop_event is not None and stop_event.is_set():
                # Stopping: what was not tried goes back to the queue at once.
                for delivery in untried[position:]:
                    batch.record(delivery, DeliveryStatus.QUEUED, tried=False)
                break
            size = 1 if batch.pacer.rate > 0 else transport.group
            deliver_group(batch, ready[position : position + size])
            position += size
        batch.settle(transport.flush())
        batch.write()
    except OperationalError:
        # The database went away mid-batch: save what was sent (or it would be sent
        # again); the untried rest stays claimed until its lease runs out.
        db.session.rollback()
        batch.settle(transport.flush())
        batch.write(tries=DB_WRITE_TRIES)
        raise


def send_pending(
    worker_id: str,
    batch_size: int | None = None,
    until_idle: bool = True,
    stop_event: threading.Event | None = None,
    campaign_id: int | None = None,
) -> dict:
    """Claim and send deliveries that are due; returns the counts per outcome.

    With `until_idle` it goes on until nothing is left to try now (deferred messages
    wait for their retry time); otherwise it sends one batch. `campaign_id` limits it
    to one campaign (`flask campaign send --wait`).
    """
    size = batch_size or current_app.config["SEND_BATCH_SIZE"]
    lease = claims.lease_for(size)
    pacer = Pacer(current_app.config["SEND_RATE"], stop_event)
    batch = Batch(transports.make_transport(), pacer, {}, worker_id=worker_id, lease=lease)
    batch.watch = changes.watcher()  # told of changes to what rule 3 reads (changes.py)
    totals: dict[str, int] = {"batches": 0}
    touched: set[int] = set()
    try:
        while not (stop_event and stop_event.is_set()):
            ids = claims.claim_batch(worker_id, size, lease, campaign_id)
            if not ids:
                break
            batch.lease_until = utcnow() + lease
            totals["batches"] += 1
            deliveries = load(ids)
            _send_batch(batch, deliveries, stop_event)
            touched.update(d.campaign_id for d in deliveries)
            if len(ids) < size or not until_idle:
                # A short claim: the queue is (nearly) empty, so a campaign may be done.
                # Not after every batch: that check counts the campaign's deliveries.
                finish_campaigns(touched)
                touched.clear()
            if not until_idle:
                break
        finish_campaigns(touched)
    finally:
        batch.transport.close()
        batch.watch.close()
    for status, count in batch.counts.items():
        totals[status] = totals.get(status, 0) + count
    return totals


def run_worker(app: Flask, stop_event: threading.Event) -> None:
    """The loop of `flask worker`: send whatever is due, then poll, until stopped."""
    worker_id = claims.new_worker_id()
    log.info("worker %s started", worker_id)
    while not stop_event.is_set():
        with app.app_context():
            try:
                counts = send_pending(worker_id, until_idle=True, stop_event=stop_event)
            except Exception:  # keep the worker alive; the lease returns the batch
                log.exception("sending failed; retrying shortly")
                db.session.rollback()
                counts = {}
            finally:
                db.session.remove()
        if counts.get("batches"):
            log.info("worker %s: %s", worker_id, counts)
        else:
            stop_event.wait(IDLE_POLL_SECONDS)
    log.info("worker %s stopped", worker_id)
