"""Data subjects' rights: access (GDPR Art. 15) and erasure (Art. 17), each request logged.

The log (`RightsRequest`) keeps the channel and the times, keyed by the address hash,
never the address itself.
"""

from __future__ import annotations

from . import subscriptions
from .addresses import address_hash
from .clock import utcnow
from .extensions import db
from .models import Channel, RightsRequest, Subscriber


def request_export(subscriber: Subscriber, channel: str) -> dict:
    """Everything held about the subscriber; logs the request (channel: cli, admin, web)."""
    now = utcnow()
    data = subscriptions.export_data(subscriber)
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
