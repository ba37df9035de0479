"""Domain events for the outgoing webhooks: queued in the transaction of the change.

`emit(kind, payload)` adds one queued `WebhookDelivery` per endpoint that listens to
`kind`, in the caller's session: the rows exist exactly when the change is committed
(an outbox), and vanish with it on a rollback. The `webhook-deliveries` job sends them
after the commit, never inside the request (newsletter/webhooks.py). The domain
functions call it with one-line hooks.

Payloads name a subscriber only by the opaque public id, never by the address: an
unsubscribe or an erasure sends nothing that identifies the person to anyone who did
not already know the id (docs/API.md, "Webhooks").
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from .clock import utcnow
from .extensions import db
from .models import WebhookDelivery, WebhookEndpoint

SUBSCRIBER_CONFIRMED = "subscriber.confirmed"
SUBSCRIBER_UNSUBSCRIBED = "subscriber.unsubscribed"
SUBSCRIBER_ERASED = "subscriber.erased"
CAMPAIGN_SENT = "campaign.sent"
KINDS = (SUBSCRIBER_CONFIRMED, SUBSCRIBER_UNSUBSCRIBED, SUBSCRIBER_ERASED, CAMPAIGN_SENT)

# The person's own choice to stop (unsubscribe link, preferences, objection, spam report)
# is "unsubscribed"; any other removal (erasure request, bounces, unanswered re-consent,
# lapsed customer basis) is "erased". Either way the person is gone from the list.
OPT_OUT_REASONS = frozenset({"unsubscribed", "objection", "complained"})


def emit(kind: str, payload: dict) -> int:
    """Queue `kind` with `payload` for every endpoint listening to it; returns how many.

    Flushes, never commits: the caller's commit makes the event real."""
    now = utcnow()
    event_id = "evt_" + secrets.token_urlsafe(16)
    envelope = {"id": event_id, "type": kind, "created_at": now.isoformat(), "data": payload}
    endpoints = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
    queued = 0
    for endpoint in endpoints:
        if kind in (endpoint.events or []):
            db.session.add(
                WebhookDelivery(
                    endpoint_id=endpoint.id,
                    event_id=event_id,
                    kind=kind,
                    payload=envelope,
                    status="pending",
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            queued += 1
    if queued:
        db.session.flush()
    return queued


def left_kind(reason: str) -> str:
    """The event of a removal for this reason (see OPT_OUT_REASONS)."""
    return SUBSCRIBER_UNSUBSCRIBED if reason in OPT_OUT_REASONS else SUBSCRIBER_ERASED


def subscriber_data(subscriber) -> dict:
    """A confirmed subscriber, by public id: language, confirmed lists, date. No address:
    a receiver with the `subscribers:read` scope asks GET /api/v1/subscribers/<id>."""
    topics = sorted(s.topic.slug for s in subscriber.subscriptions if s.confirmed_at)
    confirmed = subscriber.confirmed_at
    return {
        "subscriber": {
            "id": subscriber.public_id,
            "status": subscriber.status,
            "locale": subscriber.locale,
            "topics": topics,
            "confirmed_at": confirmed.isoformat() if confirmed else None,
        }
    }


def departure(subscriber, reason: str) -> dict:
    """A subscriber who left: the public id and the reason, nothing else."""
    return {"subscriber": {"id": subscriber.public_id}, "reason": reason}


def campaign_data(campaign) -> dict:
    """A finished campaign: id, subject, list and its counts (no recipient)."""
    stats = campaign.stats or {}
    finished = campaign.finished_at
    return {
        "campaign": {
            "id": campaign.id,
            "subject": campaign.subject,
            "topic": campaign.topic.slug,
            "finished_at": finished.isoformat() if finished else None,
            "total": stats.get("total", 0),
            "counts": stats.get("counts", {}),
        }
    }
