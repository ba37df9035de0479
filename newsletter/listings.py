"""Read-only queries behind the admin pages: counts, searches, histories, pages.

Nothing here changes data; the admin views call these and render the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, and_, func, or_, select

from .addresses import address_hash
from .clock import utcnow
from .extensions import db
from .models import (
    Campaign,
    CampaignStatus,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
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
    text: str = "", status: str = "", number: int = 1, per_page: int = 50, language: str = ""
) -> Page:
    """Subscribers whose address contains `text` (case-insensitive), optionally by status
    and by language (`nl`, `fr`, `en`: their Subscriber.locale)."""
    query = select(Subscriber).order_by(Subscriber.created_at.desc(), Subscriber.id.desc())
    text = text.strip().lower()
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Subscriber.email.like(f"%{escaped}%", escape="\\"))
    if status in SubscriberStatus.ALL:
        query = query.where(Subscriber.status == status)
    if language:
        query = query.where(Subscriber.locale == language)
    return paginate(query, number, per_page)


def consent_history(subscriber: Subscriber) -> list[ConsentEvent]:
    """Every consent event of this person, oldest first (keyed by the address hash, so
    events from before an earlier opt-out and re-signup are included)."""
    # Linked events too: those from before an address change carry the old hash (issue 13).
    mine = or_(
        ConsentEvent.subscriber_id == subscriber.id,
        ConsentEvent.subject_hash == address_hash(subscriber.email),
    )
    return list(
        db.session.scalars(
            select(ConsentEvent).where(mine).order_by(ConsentEvent.occurred_at, ConsentEvent.id)
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


def recipient_counts(topics: list[Topic]) -> dict[str, int]:
    """`lawful_recipient_count` of each topic, by slug (in the order given)."""
    return {topic.slug: lawful_recipient_count(topic) for topic in topics}


def campaigns_page(number: int, per_page: int = 30) -> Page:
    """Every campaign, newest first."""
    return paginate(select(Campaign).order_by(Campaign.id.desc()), number, per_page)


def campaigns_failed(campaigns: list[Campaign]) -> dict[int, int]:
    """Failed deliveries per campaign id, for a list of campaigns (one query); from the
    counts kept in `Campaign.stats` once retention has removed the deliveries."""
    ids = [c.id for c in campaigns]
    rows = db.session.execute(
        select(Delivery.campaign_id, func.count())
        .where(Delivery.campaign_id.in_(ids), Delivery.status == DeliveryStatus.FAILED)
        .group_by(Delivery.campaign_id)
    ).all()
    failed = dict.fromkeys(ids, 0) | dict(rows)
    for campaign in campaigns:
        kept = (campaign.stats or {}).get("counts") or {}
        if not failed[campaign.id] and kept.get(DeliveryStatus.FAILED):
            failed[campaign.id] = kept[DeliveryStatus.FAILED]
    return failed


# --- why a delivery did not go out ----------------------------------------------------

# Who refused, read from `Delivery.last_error` (see newsletter/sending.py): the app's own
# refusals start with "refused: " (rule 4, or a message that could not be built); an
# SMTP refusal is the server's reply, starting with its 3-digit code; "connection: ..."
# means no server answered; "gave up after N attempts: ..." wraps the last of these.
APP, SERVER, CONNECTION, NOT_SENT = "app", "server", "connection", "not-sent"
ORIGIN_LABELS = {
    APP: "Refused by this app (never handed to the mail server)",
    SERVER: "Refused by the receiving mail server",
    CONNECTION: "No mail server could be reached",
    NOT_SENT: "Not sent (on purpose)",
}
PROBLEM_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.DEFERRED, DeliveryStatus.SKIPPED)
_SMTP_REPLY = re.compile(r"\d{3}(?:[ -]|$)")
_GAVE_UP = re.compile(r"gave up after \d+ attempts: ")


def refusal_origin(status: str, reason: str | None) -> str:
    """APP, SERVER, CONNECTION or NOT_SENT: who kept this delivery from going out."""
    if status == DeliveryStatus.SKIPPED:
        return NOT_SENT
    text = _GAVE_UP.sub("", reason or "", count=1)
    if text.startswith("refused:"):
        return APP
    if _SMTP_REPLY.match(text):
        return SERVER
    if text.startswith("connection:"):
        return CONNECTION
    return APP  # every SMTP outcome has a code or "connection:"; the rest is the app's


@dataclass(frozen=True)
class ReasonGroup:
    """Deliveries of one campaign with the same status and reason."""

    status: str
    reason: str
    count: int

    @property
    def origin(self) -> str:
        return refusal_origin(self.status, self.reason)

    @property
    def origin_label(self) -> str:
        return ORIGIN_LABELS[self.origin]


def problem_reasons(campaign: Campaign, limit: int = 30) -> tuple[list[ReasonGroup], int]:
    """The failed, deferred and skipped deliveries grouped by status and reason, most
    frequent first (at most `limit` groups), and how many deliveries the rest hold."""
    rows = db.session.execute(
        select(Delivery.status, Delivery.last_error, func.count())
        .where(Delivery.campaign_id == campaign.id, Delivery.status.in_(PROBLEM_STATUSES))
        .group_by(Delivery.status, Delivery.last_error)
        .order_by(func.count().desc(), Delivery.status, Delivery.last_error)
    ).all()
    groups = [
        ReasonGroup(status, reason or "(no reason recorded)", n) for status, reason, n in rows
    ]
    return groups[:limit], sum(g.count for g in groups[limit:])


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery with its recipient's address (None once the person was erased)."""

    delivery: Delivery
    email: str | None
    public_id: str | None

    @property
    def origin_label(self) -> str:
        return ORIGIN_LABELS[refusal_origin(self.delivery.status, self.delivery.last_error)]


def problem_deliveries(campaign: Campaign, number: int = 1, per_page: int = 50) -> Page:
    """The failed, deferred and skipped deliveries of a campaign, one row each, paged."""
    query = (
        select(Delivery, Subscriber.email, Subscriber.public_id)
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.campaign_id == campaign.id, Delivery.status.in_(PROBLEM_STATUSES))
        .order_by(Delivery.id)
    )
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, -(-(total or 0) // per_page))
    number = min(max(1, number), pages)
    rows = db.session.execute(query.offset((number - 1) * per_page).limit(per_page))
    return Page([DeliveryRow(*row) for row in rows], number, pages, total or 0)


@dataclass(frozen=True)
class SubscriberDelivery:
    """One campaign message of one person, for their admin page."""

    delivery: Delivery
    campaign: Campaign

    @property
    def at(self):
        """When it went out, or when it is (was) to be tried next, or the campaign start."""
        d = self.delivery
        return d.sent_at or d.next_attempt_at or self.campaign.started_at

    @property
    def origin_label(self) -> str:
        if self.delivery.status not in PROBLEM_STATUSES:
            return ""
        return ORIGIN_LABELS[refusal_origin(self.delivery.status, self.delivery.last_error)]


def subscriber_deliveries(subscriber: Subscriber, limit: int = 200) -> list[SubscriberDelivery]:
    """The person's campaign deliveries, newest first (those retention has not removed)."""
    rows = db.session.execute(
        select(Delivery, Campaign)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.subscriber_id == subscriber.id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    return [SubscriberDelivery(*row) for row in rows]


STALL_AFTER = timedelta(minutes=1)


def campaign_stalled(campaign: Campaign, quiet: timedelta = STALL_AFTER) -> bool:
    """True when no worker seems to be at work on this campaign: it should have started
    (scheduled more than `quiet` ago) or it is sending with messages due, none claimed
    by a live worker, and none sent for `quiet`."""
    now = utcnow()
    before = now - quiet
    if campaign.status == CampaignStatus.SCHEDULED:
        return campaign.scheduled_at is not None and campaign.scheduled_at <= before
    if campaign.status != CampaignStatus.SENDING or (campaign.started_at or now) > before:
        return False
    mine = Delivery.campaign_id == campaign.id
    claimed = select(Delivery.id).where(
        mine, Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_until >= now
    )
    if db.session.scalar(claimed.limit(1)) is not None:
        return False
    due = select(Delivery.id).where(
        mine,
        or_(
            Delivery.status == DeliveryStatus.QUEUED,
            and_(Delivery.status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= before),
            and_(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_until < before),
        ),
    )
    if db.session.scalar(due.limit(1)) is None:
        return False
    last_sent = db.session.scalar(select(func.max(Delivery.sent_at)).where(mine))
    return last_sent is None or last_sent <= before
