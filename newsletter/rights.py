"""Data subjects' rights: access (GDPR Art. 15) and erasure (Art. 17), each request logged.

The log (`RightsRequest`) keeps the channel and the times, keyed by the address hash,
never the address itself. Channels: "web" (preferences page), "admin", "cli", and
"api:<token name>" for objections recorded through the API.
"""

from __future__ import annotations

from sqlalchemy import select

from . import subscriptions
from .addresses import address_hash
from .clock import utcnow
from .extensions import db
from .models import (
    Basis,
    Campaign,
    Channel,
    Delivery,
    RightsRequest,
    Subscriber,
    Subscription,
    Suppression,
)


def request_export(subscriber: Subscriber, channel: str) -> dict:
    """Everything held about the subscriber; logs the request (channel: cli, admin, web)."""
    now = utcnow()
    data = export_subject(subscriber)
    db.session.add(
        RightsRequest(
            kind="export",
            channel=channel,
            subject_hash=address_hash(subscriber.email),
            requested_at=now,
            completed_at=now,
        )
    )
    db.session.flush()
    return data


def export_subject(subscriber: Subscriber) -> dict:
    """The Art. 15 export: profile, subscriptions with their basis in words, every consent
    event with its exact text, deliveries with their subject, objections, past requests."""
    data = subscriptions.export_data(subscriber)
    digest = address_hash(subscriber.email)
    held = {s.topic.slug: s for s in subscriber.subscriptions}
    for item in data["subscriptions"]:
        item["why"] = why_you_receive(subscriber, held[item["topic"]])
    subjects = _campaign_subjects(subscriber)
    for item in data["deliveries"]:
        item["subject"] = subjects.get(item["campaign_id"])
    data["objections"] = [
        {"channel": s.channel, "reason": s.reason, "since": s.created_at.isoformat()}
        for s in db.session.scalars(
            select(Suppression).where(Suppression.address_hash == digest).order_by(Suppression.id)
        )
    ]
    data["rights_requests"] = [
        {"kind": r.kind, "channel": r.channel, "requested_at": r.requested_at.isoformat()}
        for r in db.session.scalars(
            select(RightsRequest)
            .where(RightsRequest.subject_hash == digest)
            .order_by(RightsRequest.id)
        )
    ]
    return data


def _campaign_subjects(subscriber: Subscriber) -> dict[int, str]:
    query = (
        select(Campaign.id, Campaign.subject)
        .join(Delivery, Delivery.campaign_id == Campaign.id)
        .where(Delivery.subscriber_id == subscriber.id)
    )
    return dict(db.session.execute(query).all())


def why_you_receive(subscriber: Subscriber, subscription: Subscription) -> str:
    """The real basis of one subscription, in words (export; usable by the mail footer)."""
    topic = subscription.topic.name
    if subscription.confirmed_at is None:
        return f"{topic}: not sent; waiting for you to confirm your subscription."
    if subscription.basis == Basis.EXISTING_CUSTOMER and subscriber.purchased_at:
        return (
            f"{topic}: you bought from us on {subscriber.purchased_at:%Y-%m-%d}; we may tell "
            "customers about our own similar products until you object."
        )
    since = subscriber.consented_at or subscription.confirmed_at
    return f"{topic}: you gave your consent on {since:%Y-%m-%d}."


def request_erasure(subscriber: Subscriber, channel: str) -> None:
    """Erase exactly as an opt-out does (objection on every channel); logs the request."""
    now = utcnow()
    digest = subscriptions.erase(
        subscriber,
        "erased",
        Channel.ALL,
        subscriptions.Evidence(source=f"erasure request ({channel})"),
    )
    db.session.add(
        RightsRequest(
            kind="erasure", channel=channel, subject_hash=digest, requested_at=now, completed_at=now
        )
    )
    db.session.flush()
