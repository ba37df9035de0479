"""A campaign's progress: counts per delivery state (and per language), and the end of
a send once nothing is left to try."""

from __future__ import annotations

from sqlalchemy import func, select

from . import events
from .clock import utcnow
from .extensions import db
from .models import Campaign, CampaignStatus, Delivery, DeliveryStatus

# Deliveries that may still produce a message: the campaign is not finished.
OPEN_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)


def count_deliveries(campaign_id: int) -> int:
    """How many recipients the campaign has."""
    query = select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign_id)
    return db.session.scalar(query)


def _counts(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    return dict(rows.all())


def campaign_status(campaign: Campaign) -> dict:
    """Progress as JSON-ready data: status and the counts per delivery state.

    `queued` counts the messages not yet tried (waiting or claimed by a worker).
    """
    counts = _counts(campaign.id)
    if not counts and campaign.stats and "total" in campaign.stats:
        counts = campaign.stats.get("counts", {})  # deliveries expired (retention)
    total = sum(counts.values())
    done = total - sum(counts.get(s, 0) for s in OPEN_STATUSES)
    return {
        "id": campaign.id,
        "status": campaign.status,
        "subject": campaign.subject,
        "topic": campaign.topic.slug,
        "scheduled_at": _iso(campaign.scheduled_at),
        "started_at": _iso(campaign.started_at),
        "finished_at": _iso(campaign.finished_at),
        "total": total,
        "sent": counts.get(DeliveryStatus.SENT, 0),
        "failed": counts.get(DeliveryStatus.FAILED, 0),
        "deferred": counts.get(DeliveryStatus.DEFERRED, 0),
        "skipped": counts.get(DeliveryStatus.SKIPPED, 0),
        "queued": counts.get(DeliveryStatus.QUEUED, 0) + counts.get(DeliveryStatus.SENDING, 0),
        # Nothing to send: done only once sent (a draft or scheduled campaign is at 0 %).
        "percent": round(100 * done / total) if total else _empty_percent(campaign),
        "languages": counts_by_language(campaign),  # per recipient's language
    }


def _empty_percent(campaign: Campaign) -> int:
    return 100 if campaign.status == CampaignStatus.SENT else 0


def finish_if_done(campaign: Campaign) -> bool:
    """Mark a sending campaign `sent` once nothing is left to try; keep its counts."""
    if campaign.status != CampaignStatus.SENDING:
        return False
    # Called after every batch: a cheap "is anything open?" first, the counts only at
    # the end (counting a million deliveries after each batch made sending quadratic).
    still_open = select(Delivery.id).where(
        Delivery.campaign_id == campaign.id, Delivery.status.in_(OPEN_STATUSES)
    )
    if db.session.scalar(still_open.limit(1)) is not None:
        return False
    counts = _counts(campaign.id)
    by_language = counts_by_language(campaign)
    campaign.status = CampaignStatus.SENT
    campaign.finished_at = utcnow()
    kept = {"total": sum(counts.values()), "counts": counts, "by_language": by_language}
    campaign.stats = {**(campaign.stats or {}), **kept}
    events.emit(events.CAMPAIGN_SENT, events.campaign_data(campaign))
    db.session.flush()
    return True


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def counts_by_language(campaign: Campaign) -> dict[str, dict[str, int]]:
    """Per recipient's language (as fixed at the start): total, sent, failed, waiting.

    Deliveries fixed before languages were recorded count under "" (unknown)."""
    rows = db.session.execute(
        select(Delivery.locale, Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign.id)
        .group_by(Delivery.locale, Delivery.status)
    )
    found: dict[str, dict[str, int]] = {}
    for locale, status, count in rows:
        entry = found.setdefault(locale or "", dict.fromkeys(LANGUAGE_COUNTS, 0))
        entry["total"] += count
        key = _LANGUAGE_COUNT_OF.get(status)
        if key:
            entry[key] += count
    if not found:  # deliveries expired (retention): the counts kept at the end
        found = {k: dict(v) for k, v in ((campaign.stats or {}).get("by_language") or {}).items()}
    return dict(sorted(found.items()))


LANGUAGE_COUNTS = ("total", "sent", "failed", "waiting")
_LANGUAGE_COUNT_OF = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.QUEUED: "waiting",
    DeliveryStatus.SENDING: "waiting",
    DeliveryStatus.DEFERRED: "waiting",
}
