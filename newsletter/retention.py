"""Retention (SPEC rule 7): every kind of personal data is deleted when its period ends.

The periods are configuration keys listed in `compliance.RETENTION_PERIODS`, shown on
the privacy notice and in docs/RETENTION.md. Unconfirmed signups are purged by
`subscriptions.purge_unconfirmed`; the rest is here, one function per kind, each
idempotent and returning how many rows it deleted. Domain functions flush, never
commit. Suppression entries are never purged (docs/RETENTION.md says why).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, exists, func, select

from . import compliance
from .extensions import db
from .models import (
    AuditEntry,
    Campaign,
    CampaignStatus,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    OutboxMessage,
    RightsRequest,
)
from .people import mark_for_secure_cleanup

log = logging.getLogger(__name__)


def purge_deliveries(now: datetime, config) -> int:
    """Replace the delivery records of finished campaigns by counts in `Campaign.stats`.

    A campaign is finished when sent or cancelled; its records go once its end (or, for
    a campaign that never ended, its start or creation) is older than
    DELIVERY_RETENTION_DAYS. Bounce data (status, last SMTP error) goes with them.
    """
    cutoff = compliance.retention_cutoff("deliveries", now, config)
    ended = func.coalesce(Campaign.finished_at, Campaign.started_at, Campaign.created_at)
    campaigns = db.session.scalars(
        select(Campaign).where(
            Campaign.status.in_((CampaignStatus.SENT, CampaignStatus.CANCELLED)),
            ended < cutoff,
            exists().where(Delivery.campaign_id == Campaign.id),
        )
    ).all()
    deleted = 0
    for campaign in campaigns:
        deleted += _aggregate_and_delete(campaign, now)
    _log("delivery records", deleted)
    return deleted


def _aggregate_and_delete(campaign: Campaign, now: datetime) -> int:
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign.id)
        .group_by(Delivery.status)
    ).all()
    counts = {status: 0 for status in DeliveryStatus.ALL} | {s: n for s, n in rows}
    # The shape `campaigns.campaign_status` reads once the rows are gone ("total" and
    # "counts" per status). A new dict, not an in-place change, so the JSON is written.
    campaign.stats = {
        **(campaign.stats or {}),
        "total": sum(counts.values()),
        "counts": counts,
        "deliveries_purged_at": now.isoformat(),
    }
    result = db.session.execute(delete(Delivery).where(Delivery.campaign_id == campaign.id))
    db.session.flush()
    return result.rowcount


def purge_audit_log(now: datetime, config) -> int:
    """Delete audit entries older than AUDIT_RETENTION_DAYS."""
    cutoff = compliance.retention_cutoff("audit-log", now, config)
    return _delete_before(AuditEntry, AuditEntry.occurred_at, cutoff, "audit entries")


def purge_outbox(now: datetime, config) -> int:
    """Delete built-in outbox mails older than OUTBOX_RETENTION_DAYS (they hold addresses)."""
    cutoff = compliance.retention_cutoff("outbox", now, config)
    return _delete_before(OutboxMessage, OutboxMessage.created_at, cutoff, "outbox mails")


def purge_rights_requests(now: datetime, config) -> int:
    """Delete logged rights requests older than RIGHTS_REQUEST_RETENTION_DAYS."""
    cutoff = compliance.retention_cutoff("rights-requests", now, config)
    return _delete_before(RightsRequest, RightsRequest.requested_at, cutoff, "rights requests")


def purge_consent_evidence(now: datetime, config) -> int:
    """Delete the consent records of people who left, once they can no longer be needed.

    Consent proof must outlive the subscription: a complaint about a mail sent while the
    person was subscribed can come later (GDPR Art. 7(1) accountability). It is kept
    CONSENT_EVIDENCE_RETENTION_DAYS after the person's last event (the erasure), then
    deleted. Records of anyone still subscribed (any event linked to a subscriber) stay.
    """
    cutoff = compliance.retention_cutoff("consent-evidence", now, config)
    expired_subjects = (
        select(ConsentEvent.subject_hash)
        .group_by(ConsentEvent.subject_hash)
        .having(func.max(ConsentEvent.occurred_at) < cutoff)
        .having(func.count(ConsentEvent.subscriber_id) == 0)
    )
    result = db.session.execute(
        delete(ConsentEvent).where(ConsentEvent.subject_hash.in_(expired_subjects))
    )
    _log("consent events of people who left", result.rowcount)
    return result.rowcount


def _delete_before(model, column, cutoff: datetime, what: str) -> int:
    result = db.session.execute(delete(model).where(column < cutoff))
    _log(what, result.rowcount)
    return result.rowcount


def _log(what: str, count: int) -> None:
    db.session.flush()
    if count:
        # The deleted rows may have held addresses: have SQLite wipe them from the WAL.
        mark_for_secure_cleanup()
        log.info("retention: deleted %d %s", count, what)
