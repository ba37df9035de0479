"""Who may get a message now: rules 1 and 3 read for a whole batch, then again for each
message (or group of messages written at once) right before its hand-off
(`still_lawful`)."""

from __future__ import annotations

import functools

from sqlalchemy import Integer, String, bindparam, func, literal_column, select, union_all
from sqlalchemy.dialects import postgresql

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


def _fresh_select(position, subscriber_id, topic_id, hashed, given=None):
    """The re-check's query for the messages `position` names (rules 1 and 3: their
    subscriber, their subscription to the topic, an objection to their address); from
    the table of them, `given`, if any."""
    people = Subscriber.__table__
    if given is not None:
        people = given.join(people, Subscriber.id == subscriber_id)
    return (
        select(
            position.label("position"),
            *_RECIPIENT_COLUMNS,
            compliance.objection_exists(hashed).label("objected"),
        )
        .select_from(
            people.join(Subscription, Subscription.subscriber_id == Subscriber.id).join(
                Topic, Topic.id == Subscription.topic_id
            )
        )
        .where(Subscriber.id == subscriber_id, Subscription.topic_id == topic_id)
    )


def _fresh_arrays():
    """PostgreSQL: one query for a whole group, its messages given as three arrays
    (`unnest ... WITH ORDINALITY`: the position of each, from 1). One plan, one index
    lookup a message: 16 messages cost about what one does (docs/PERFORMANCE.md)."""
    given = (
        func.unnest(
            bindparam("subscriber_ids", type_=postgresql.ARRAY(Integer)),
            bindparam("topic_ids", type_=postgresql.ARRAY(Integer)),
            bindparam("address_hashes", type_=postgresql.ARRAY(String)),
        )
        .table_valued("subscriber_id", "topic_id", "address_hash", with_ordinality="position")
        .render_derived()
    )
    c = given.c
    return _fresh_select(c.position, c.subscriber_id, c.topic_id, c.address_hash, given)


@functools.cache
def _fresh_union(size: int):
    """Elsewhere (SQLite): the query once for each of `size` messages, joined by UNION
    ALL, in one statement made once per size."""

    def make():
        return union_all(
            *(
                _fresh_select(
                    literal_column(str(position)),
                    bindparam(f"subscriber_id_{position}"),
                    bindparam(f"topic_id_{position}"),
                    bindparam(f"address_hash_{position}"),
                )
                for position in range(1, size + 1)
            )
        )

    return make


def _fresh(group, hashes: list[str]) -> tuple[dbapi.Prepared, dict]:
    """The re-check statement for this group, and its parameters."""
    if db.engine.dialect.name == "postgresql":
        values = {
            "subscriber_ids": [delivery.subscriber_id for delivery, _ in group],
            "topic_ids": [delivery.topic_id for delivery, _ in group],
            "address_hashes": hashes,
        }
        return dbapi.prepared(_fresh_arrays, values), values
    values = {}
    for position, ((delivery, _), hashed) in enumerate(zip(group, hashes, strict=True), 1):
        values[f"subscriber_id_{position}"] = delivery.subscriber_id
        values[f"topic_id_{position}"] = delivery.topic_id
        values[f"address_hash_{position}"] = hashed
    return dbapi.prepared(_fresh_union(len(group)), values), values


def still_lawful(group) -> list[messages.Recipient | None]:
    """Rules 1 and 3 again, right before the hand-off of these (delivery, recipient)
    pairs: one indexed query each, all in one statement (one round trip).

    For each pair: the recipient as the database has it now (it may differ from the one
    the message was built for), or None: opted out, objected, or no lawful basis any more.
    The caller hands the messages over in one write right after (engine.deliver_group).
    """
    hashes = [recipient.hashed or address_hash(recipient.email) for _, recipient in group]
    statement, values = _fresh(group, hashes)
    found = {row.position: row for row in statement.rows(values)}
    current: list[messages.Recipient | None] = []
    for position, ((_, recipient), hashed) in enumerate(zip(group, hashes, strict=True), 1):
        row = found.get(position)
        if row is None or row.objected or not _may_send(row):
            current.append(None)
            continue
        if row.email != recipient.email:  # the address itself changed since the batch's read
            hashed = address_hash(row.email)
            if compliance.is_objected(hashed):
                current.append(None)
                continue
        current.append(_recipient(row, hashed))
    return current
