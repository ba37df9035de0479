"""Access (GDPR Art. 15): the subscriber's data as JSON (rights.export_subject adds
what is held under the keyed hash)."""

from __future__ import annotations

from sqlalchemy import or_, select

from .. import compliance
from ..addresses import address_hash
from ..extensions import db
from ..models import (
    ConsentEvent,
    Delivery,
    OutboxMessage,
    Subscriber,
    Subscription,
)
from .rectification import address_changes

# --- access (GDPR Art. 15) ---------------------------------------------------------------


def export_data(subscriber: Subscriber) -> dict:
    """Everything held about one subscriber, as JSON-ready data."""
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "locale": subscriber.locale,
        "status": subscriber.status,
        "source": subscriber.source,
        "created_at": _iso(subscriber.created_at),
        "confirmed_at": _iso(subscriber.confirmed_at),
        "consented_at": _iso(subscriber.consented_at),
        "purchased_at": _iso(subscriber.purchased_at),
        "subscriptions": [_subscription_json(s) for s in subscriber.subscriptions],
        "consent_events": [event_json(e) for e in _events_of(subscriber)],
        "deliveries": [_delivery_json(d, subscriber.email) for d in _deliveries_of(subscriber)],
        "outbox_messages": [_outbox_json(m) for m in _outbox_of(subscriber)],
        "pending_address_changes": [
            {"new_email": c.new_email, "requested_at": _iso(c.requested_at)}
            for c in address_changes(subscriber)
        ],
    }


def _events_of(subscriber: Subscriber):
    # Linked events too: those from before an address change carry the old address's hash.
    return db.session.scalars(
        select(ConsentEvent)
        .where(
            or_(
                ConsentEvent.subscriber_id == subscriber.id,
                ConsentEvent.subject_hash == address_hash(subscriber.email),
            )
        )
        .order_by(ConsentEvent.id)
    )


def _deliveries_of(subscriber: Subscriber):
    return db.session.scalars(
        select(Delivery).where(Delivery.subscriber_id == subscriber.id).order_by(Delivery.id)
    )


def _outbox_of(subscriber: Subscriber):
    return db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient == subscriber.email)
        .order_by(OutboxMessage.id)
    )


def _subscription_json(subscription: Subscription) -> dict:
    return {
        "topic": subscription.topic.slug,
        "topic_name": subscription.topic.name,
        "basis": subscription.basis,
        # The footer's date (compliance.basis_since): the purchase for an existing
        # customer, the confirmation for a consent; None while unconfirmed.
        "since": _iso(
            compliance.basis_since(
                subscription.basis, subscription.confirmed_at, subscription.subscriber.purchased_at
            )
        ),
        "confirmed": subscription.confirmed_at is not None,
    }


def _delivery_json(delivery: Delivery, address: str) -> dict:
    return {
        "campaign_id": delivery.campaign_id,
        "status": delivery.status,
        "sent_at": _iso(delivery.sent_at),
        "attempts": delivery.attempts,
        "smtp_reply": compliance.redact_address(delivery.last_error, address),
        "delivery_id": delivery.id,
    }


def _outbox_json(message: OutboxMessage) -> dict:
    return {
        "at": _iso(message.created_at),
        "subject": message.subject,
        "message": message.raw.decode("utf-8", "replace"),
    }


def event_json(event: ConsentEvent) -> dict:
    text = event.consent_text
    return {
        "kind": event.kind,
        "at": _iso(event.occurred_at),
        "topics": event.topics,
        "basis": event.basis,
        "source": event.source,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "consent_text": {
            "locale": text.locale,
            "version": text.version,
            "text": text.text,
            "sha256": text.sha256,
        }
        if text
        else None,
        "topic_wording": event.topic_wording,
        "detail": event.detail,
        "import_evidence": _import_evidence_json(event.import_evidence),
    }


def _import_evidence_json(evidence) -> dict | None:
    """What an imported row proved (docs/IMPORTS.md), as kept with its event."""
    if evidence is None:
        return None
    return {
        "basis": evidence.basis,
        "given_at": _iso(evidence.given_at),
        "consent_text": evidence.consent_text,
        "consent_text_ref": evidence.consent_text_ref,
        "consent_where": evidence.consent_where,
        "consent_how": evidence.consent_how,
        "consent_system": evidence.consent_system,
        "optout_offered": evidence.optout_offered,
        "declared_by": evidence.declared_by,
    }


def _iso(value) -> str | None:
    return value.isoformat() if value else None
