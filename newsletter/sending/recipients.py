"""Who may get a message now: rules 1 and 3 read for a whole batch, then again for each
message right before its hand-off (`still_lawful`)."""

from __future__ import annotations

import functools

from sqlalchemy import bindparam, select

from .. import compliance, i18n, messages
from ..addresses import address_hash
from ..extensions import db
from ..models import Subscriber, Subscription, Topic
from . import dbapi

# What a message needs of its recipient, and what rules 1 and 3 look at.
_RECIPIENT_COLUMNS = (
    Subscriber.email,
    Subscriber.name,
    Subscriber.public_id,
    Subscriber.locale,
    Subscriber.status,
    Subscriber.purchased_at,
    Subscription.topic_id,
    Subscription.basis,
    Subscription.confirmed_at,
    Topic.own_similar_products,
)


def lawful_recipients(deliveries) -> dict[tuple[int, int], messages.Recipient]:
    """The deliveries' recipients who may get the message now (rules 1 and 3), in bulk.

    One query for a whole batch, keyed by (subscriber id, topic id); whoever may not get
    the message is missing. The per-message re-check is `still_lawful`.
    """
    ids = {d.subscriber_id for d in deliveries if d.subscriber_id is not None}
    if not ids:
        return {}  # all erased (opted out) since the send started
    query = (
        select(Subscriber.id, *_RECIPIENT_COLUMNS)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(Topic, Topic.id == Subscription.topic_id)
        .where(Subscriber.id.in_(ids))
    )
    lawful = [row for row in db.session.execute(query) if _may_send(row)]
    hashes = {row.id: address_hash(row.email) for row in lawful}
    objected = compliance.objected_hashes(set(hashes.values()))
    return {
        (row.id, row.topic_id): _recipient(row, hashes[row.id])
        for row in lawful
        if hashes[row.id] not in objected
    }


class _Facts:
    """What rule 1 reads of a subscriber, a subscription and its topic, from one row
    (`compliance.may_send_marketing` takes it for all three; no ORM objects needed)."""

    __slots__ = ("status", "purchased_at", "basis", "confirmed_at", "own_similar_products")

    def __init__(self, row):
        self.status, self.purchased_at = row.status, row.purchased_at
        self.basis, self.confirmed_at = row.basis, row.confirmed_at
        self.own_similar_products = row.own_similar_products

    @property
    def topic(self):
        return self


def _may_send(row) -> bool:
    facts = _Facts(row)
    return compliance.may_send_marketing(facts, facts)


def _recipient(row, hashed: str) -> messages.Recipient:
    since = compliance.basis_since(row.basis, row.confirmed_at, row.purchased_at)
    # A locale stored before issue 12's migration (e.g. "nl-BE") is read as its language.
    locale = i18n.language_of(row.locale)
    return messages.Recipient(row.email, row.name, row.public_id, row.basis, since, locale, hashed)


_FRESH_SAMPLE = {"subscriber_id": 0, "topic_id": 0, "address_hash": ""}


@functools.cache
def _fresh_statement():
    """The per-message re-check, built once (SQLAlchemy then reuses its compiled form)."""
    return (
        select(
            *_RECIPIENT_COLUMNS,
            compliance.objection_exists(bindparam("address_hash")).label("objected"),
        )
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(Topic, Topic.id == Subscription.topic_id)
        .where(
            Subscriber.id == bindparam("subscriber_id"),
            Subscription.topic_id == bindparam("topic_id"),
        )
    )


def still_lawful(delivery, recipient: messages.Recipient) -> messages.Recipient | None:
    """Rules 1 and 3 again, right before the hand-off, in one indexed query.

    Returns the recipient as the database has it now (it may differ from the one the
    message was built for), or None: opted out, objected, or no lawful basis any more.
    """
    hashed = recipient.hashed or address_hash(recipient.email)
    row = dbapi.prepared(_fresh_statement, _FRESH_SAMPLE).first(
        {
            "subscriber_id": delivery.subscriber_id,
            "topic_id": delivery.topic_id,
            "address_hash": hashed,
        }
    )
    if row is None or row.objected or not _may_send(row):
        return None
    if row.email != recipient.email:  # the address itself changed since the batch was read
        hashed = address_hash(row.email)
        if compliance.is_objected(hashed):
            return None
    return _recipient(row, hashed)
