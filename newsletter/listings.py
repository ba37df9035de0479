"""Read-only queries behind the admin pages: counts, searches, histories, pages.

Nothing here changes data; the admin views call these and render the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select

from .addresses import address_hash
from .extensions import db
from .models import (
    Campaign,
    ConsentEvent,
    OutboxMessage,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
)


@dataclass(frozen=True)
class Page:
    """One page of rows of a longer list (numbers start at 1)."""

    items: list
    number: int
    pages: int
    total: int


def paginate(query: Select, number: int, per_page: int) -> Page:
    """Run `query` for one page, clamping the page number into range."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, -(-(total or 0) // per_page))
    number = min(max(1, number), pages)
    items = list(db.session.scalars(query.offset((number - 1) * per_page).limit(per_page)))
    return Page(items, number, pages, total or 0)


@dataclass(frozen=True)
class TopicCounts:
    """A topic with its confirmed (lawful) and pending subscription counts."""

    topic: Topic
    active: int
    pending: int


def topic_counts() -> list[TopicCounts]:
    """Per topic: confirmed subscriptions of active subscribers, and pending ones."""
    rows = db.session.execute(
        select(
            Subscription.topic_id,
            Subscriber.status,
            Subscription.confirmed_at.is_not(None),
            func.count(),
        )
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .group_by(Subscription.topic_id, Subscriber.status, Subscription.confirmed_at.is_not(None))
    )
    active: dict[int, int] = {}
    pending: dict[int, int] = {}
    for topic_id, status, confirmed, count in rows:
        bucket = active if status == SubscriberStatus.ACTIVE and confirmed else pending
        bucket[topic_id] = bucket.get(topic_id, 0) + count
    topics = db.session.scalars(select(Topic).order_by(Topic.id))
    return [TopicCounts(t, active.get(t.id, 0), pending.get(t.id, 0)) for t in topics]


def status_counts() -> dict[str, int]:
    """Subscribers per status, plus the size of the email suppression list."""
    counts = dict.fromkeys(SubscriberStatus.ALL, 0)
    rows = db.session.execute(
        select(Subscriber.status, func.count()).group_by(Subscriber.status)
    ).all()
    counts.update({status: count for status, count in rows})
    counts["suppressed"] = (
        db.session.scalar(
            select(func.count()).select_from(Suppression).where(Suppression.channel == "email")
        )
        or 0
    )
    return counts


def recent_campaigns(limit: int = 10) -> list[Campaign]:
    """The newest campaigns, whatever their status."""
    return list(db.session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit)))


def search_subscribers(
    text: str = "", status: str = "", number: int = 1, per_page: int = 50
) -> Page:
    """Subscribers whose address contains `text` (case-insensitive), optionally by status."""
    query = select(Subscriber).order_by(Subscriber.created_at.desc(), Subscriber.id.desc())
    text = text.strip().lower()
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Subscriber.email.like(f"%{escaped}%", escape="\\"))
    if status in SubscriberStatus.ALL:
        query = query.where(Subscriber.status == status)
    return paginate(query, number, per_page)


def consent_history(subscriber: Subscriber) -> list[ConsentEvent]:
    """Every consent event of this person, oldest first (keyed by the address hash, so
    events from before an earlier opt-out and re-signup are included)."""
    return list(
        db.session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subject_hash == address_hash(subscriber.email))
            .order_by(ConsentEvent.occurred_at, ConsentEvent.id)
        )
    )


def sample_recipients(topic: Topic | None, limit: int = 20) -> list[Subscriber]:
    """A few confirmed subscribers of a topic, to preview a campaign as they will see it."""
    query = select(Subscriber).where(Subscriber.status == SubscriberStatus.ACTIVE)
    if topic is not None:
        query = query.join(Subscription).where(
            Subscription.topic_id == topic.id, Subscription.confirmed_at.is_not(None)
        )
    return list(db.session.scalars(query.order_by(Subscriber.id).limit(limit)))


def outbox_page(number: int, per_page: int = 50) -> Page:
    """The built-in outbox, newest first."""
    return paginate(select(OutboxMessage).order_by(OutboxMessage.id.desc()), number, per_page)


def lawful_recipient_count(topic: Topic) -> int:
    """How many people a campaign to `topic` would go to if it started now (at most:
    objections recorded for still-listed people are removed when it starts)."""
    from .compliance import lawful_recipients_condition

    query = (
        select(func.count())
        .select_from(Subscriber)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(lawful_recipients_condition(topic))
    )
    return db.session.scalar(query) or 0


def campaigns_page(number: int, per_page: int = 30) -> Page:
    """Every campaign, newest first."""
    return paginate(select(Campaign).order_by(Campaign.id.desc()), number, per_page)
