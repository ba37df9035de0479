"""Removing a person: one function behind every deletion of a subscriber.

An opt-out or erasure (`subscriptions.erase`), the purge of an unconfirmed signup
(`subscriptions.purge_unconfirmed`) and the lapse of the existing-customer basis
(`reconsent.end_lapsed_customer_basis`) all call `remove_person`; what differs between
them is a parameter (keep the consent evidence, keep a suppression entry, retire the
public id). `HANDLED` says, for every table that can hold something of a subscriber, what
happens to it; tests/test_people.py fails when a table referencing a subscriber (or
holding an address or its hash) is missing from it, so a new table of personal data
cannot be forgotten.
Domain functions flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select, update

from . import compliance
from .addresses import address_hash
from .clock import utcnow
from .extensions import db
from .models import (
    AddressChange,
    ConsentEvent,
    Delivery,
    OutboxMessage,
    RetiredPublicId,
    Subscriber,
    Suppression,
)

# Every table that references a subscriber (directly or through a row that does) or holds
# an address or its keyed hash, and what `remove_person` does with it.
HANDLED = {
    "subscriber": "deleted",
    "subscription": "deleted with the subscriber",
    "address_change": "deleted (the pending new address too)",
    "outbox_message": "copies to the address and to a pending new address deleted",
    "delivery": "detached from the subscriber, the stored SMTP replies scrubbed of the address",
    "bounce_event": "kept: holds no address, only the status code and the delivery",
    "consent_event": "detached and kept under the keyed hash, or deleted (keep_evidence)",
    "import_evidence": "follows its consent event (kept with it, or deleted by cascade)",
    "suppression": "an entry added under the keyed hash when the removal is an objection",
    "retired_public_id": "the public id kept with the keyed hash (retire_id)",
    "lapsed_basis": "kept: keyed hash only, written by the customer-basis lapse",
    "confirmation_send": "kept: keyed hash only, deleted by its own 48-hour period",
    "rights_request": "kept: keyed hash only, deleted by its own period",
}

# Tables with an address-like column that never hold a subscriber's address.
NOT_A_SUBSCRIBER = {
    "admin_user": "the admins' own accounts",
}


@dataclass(frozen=True)
class Objection:
    """The suppression entry an erasure leaves: its reason and channels."""

    reason: str
    channels: Iterable[str]


def remove_person(
    subscriber: Subscriber,
    *,
    keep_evidence: bool,
    objection: Objection | None = None,
    retire_id: bool = True,
) -> str:
    """Delete a subscriber and every row of personal data referencing them (`HANDLED`).

    `keep_evidence`: the consent events stay, detached, under the keyed hash (False: they
    are deleted, for people who never consented). `objection`: the suppression entries to
    keep under that hash (None: none). `retire_id`: keep the public id with the hash, so
    that the links of older messages still reach the person. Returns the keyed hash.
    """
    digest = address_hash(subscriber.email)
    if objection is not None:
        suppress(digest, objection.reason, objection.channels)
    if retire_id:
        retire_public_id(subscriber, digest)
    events = ConsentEvent.subscriber_id == subscriber.id
    if keep_evidence:
        db.session.execute(update(ConsentEvent).where(events).values(subscriber_id=None))
    else:
        db.session.execute(delete(ConsentEvent).where(events))
    # Replies stored before issue 13 may quote the address: no copy stays behind.
    addresses = [subscriber.email, *pending_addresses(subscriber)]
    scrub_replies(subscriber.id, *addresses)
    db.session.execute(
        update(Delivery).where(Delivery.subscriber_id == subscriber.id).values(subscriber_id=None)
    )
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.recipient.in_(addresses)))
    db.session.execute(delete(AddressChange).where(AddressChange.subscriber_id == subscriber.id))
    db.session.delete(subscriber)
    db.session.flush()
    mark_for_secure_cleanup()
    return digest


def pending_addresses(subscriber: Subscriber) -> list[str]:
    """The new addresses of the subscriber's pending address changes."""
    return list(
        db.session.scalars(
            select(AddressChange.new_email).where(AddressChange.subscriber_id == subscriber.id)
        )
    )


def suppress(digest: str, reason: str, channels) -> None:
    """Add (or keep) objections for an address hash on the given channels."""
    existing = compliance.objected_channels(digest)
    for channel in channels:
        if channel not in existing:
            db.session.add(Suppression(address_hash=digest, channel=channel, reason=reason))
    db.session.flush()


def scrub_replies(subscriber_id: int, *addresses: str) -> None:
    """Remove the addresses from the stored SMTP replies of the person's deliveries."""
    rows = db.session.scalars(
        select(Delivery).where(
            Delivery.subscriber_id == subscriber_id, Delivery.last_error.is_not(None)
        )
    )
    for delivery in rows:
        cleaned = compliance.redact_address(delivery.last_error, *addresses)
        if cleaned != delivery.last_error:
            delivery.last_error = cleaned
    db.session.flush()


def retire_public_id(subscriber: Subscriber, digest: str | None = None) -> None:
    """Keep a subscriber's public id, about to be deleted, with the keyed hash of the
    address (never the address), so that the links of their older messages still reach
    the person as they are now (compliance.opt_out_link_reaches_current_subscription)."""
    if db.session.get(RetiredPublicId, subscriber.public_id) is None:
        db.session.add(
            RetiredPublicId(
                public_id=subscriber.public_id,
                address_hash=digest or address_hash(subscriber.email),
                retired_at=utcnow(),
            )
        )


def mark_for_secure_cleanup() -> None:
    """Ask for the SQLite WAL to be checkpointed after commit (see database.py)."""
    db.session.info["secure_cleanup"] = True
