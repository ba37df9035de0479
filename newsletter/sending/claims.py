"""Claims and leases: which deliveries a worker takes, and what goes back to the queue.

Claim/lease protocol (docs/SENDING.md): a worker claims a batch of deliveries in one
committed UPDATE (status `sending`, `claimed_by`, `claimed_until`); on PostgreSQL the
rows are picked with `FOR UPDATE SKIP LOCKED`, so several workers never claim the same
row; on SQLite the single UPDATE ... WHERE id IN (SELECT ... LIMIT n) runs under the
database's one write lock. A worker killed at any moment leaves its batch `sending`
with a lease that runs out; the batch is then claimed again, so nothing is lost and at
most that batch is sent twice. `claim_batch` commits (it is the engine's, see engine.py).
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, select, update

from ..clock import utcnow
from ..extensions import db
from ..models import Campaign, CampaignStatus, Delivery, DeliveryStatus


def new_worker_id() -> str:
    """A worker's name in `claimed_by`: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:100]


# --- claiming ----------------------------------------------------------------------------


def _claimable_kinds(now: datetime, status=Delivery.status):
    """What may be claimed, as three conditions that each match one range of the claim
    index (status, next_attempt_at). One OR of the three made SQLite collect and sort
    every queued row for each claim: quadratic on a large campaign."""
    return (
        # A lease that ran out: its worker died or hung; the batch is up for grabs.
        and_(status == DeliveryStatus.SENDING, Delivery.claimed_until < now),
        and_(status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now),
        status == DeliveryStatus.QUEUED,
    )


def claim_batch(
    worker_id: str, size: int, lease: timedelta, campaign_id: int | None = None
) -> list[int]:
    """Claim up to `size` deliveries of sending campaigns for this worker; committed.

    No ORDER BY: each kind is read along the claim index, which stops after `size`
    rows (queued rows come out in id order all the same, as their next_attempt_at is
    empty). PostgreSQL skips rows other workers have locked.
    """
    postgres = db.engine.dialect.name == "postgresql"
    if not postgres:
        # SQLite: take the write lock first, so that two workers never read the same
        # ids (the loser would claim nothing and take the queue for empty).
        db.session.commit()
        db.session.connection().exec_driver_sql("BEGIN IMMEDIATE")
    now = utcnow()
    claimed: list[int] = []
    # The re-check in the UPDATE must not pick the status index over the ids (SQLite
    # then walks every queued row): `status || ''` hides the column from the planner.
    rechecks = _claimable_kinds(now, Delivery.status if postgres else Delivery.status.concat(""))
    for kind, recheck in zip(_claimable_kinds(now), rechecks, strict=True):
        if len(claimed) >= size:
            break
        pick = _pick(kind, size - len(claimed), campaign_id, postgres)
        if not postgres and not pick:
            continue
        claimed += db.session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(pick), recheck)
            .values(status=DeliveryStatus.SENDING, claimed_by=worker_id, claimed_until=now + lease)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        ).all()
    db.session.commit()
    return sorted(claimed)


def _pick(kind, limit: int, campaign_id: int | None, postgres: bool):
    """The ids of one claimable kind to claim: a locking subquery on PostgreSQL, a list
    read at once on SQLite."""
    sending_campaigns = select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING)
    pick = select(Delivery.id).where(kind, Delivery.campaign_id.in_(sending_campaigns))
    pick = pick.limit(limit)
    if campaign_id is not None:
        pick = pick.where(Delivery.campaign_id == campaign_id)
    if postgres:
        # A materialised CTE: as a plain subquery PostgreSQL may run it again for each
        # row and, skipping the rows this very UPDATE changed, claim past LIMIT.
        locked = pick.with_for_update(skip_locked=True, of=Delivery)
        return select(locked.cte("picked").prefix_with("MATERIALIZED").c.id)
    # SQLite: ids first, so that the UPDATE goes by rowid (under the write lock taken
    # by the caller; the re-check is for the lease-expiry kind's sake).
    return db.session.scalars(pick).all()


def release_expired_leases(now: datetime) -> int:
    """Put deliveries whose worker's lease ran out back in the queue (job)."""
    result = db.session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_until < now)
        .values(status=DeliveryStatus.QUEUED, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def requeue_due_deferred(now: datetime) -> int:
    """Deferred deliveries whose retry time has come go back to the queue (job)."""
    result = db.session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now)
        .values(status=DeliveryStatus.QUEUED)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def lease_for(batch_size: int) -> timedelta:
    """How long a claim lasts: SEND_LEASE_SECONDS, and never less than 3x the batch's
    time at NEWSLETTER_SEND_RATE (a lease must outlive the batch it covers)."""
    config = current_app.config
    seconds = config["SEND_LEASE_SECONDS"]
    rate = config["SEND_RATE"]
    if rate > 0:
        seconds = max(seconds, 3 * batch_size / rate)
    return timedelta(seconds=seconds)
