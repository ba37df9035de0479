"""Campaigns, their language versions, their deliveries (the unit workers claim),
the bounces answering them, the public archive and the per-campaign figures."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db
from .base import (
    CampaignStatus,
    DeliveryStatus,
    UTCDateTime,
)
from .content import Topic


class Campaign(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    body_markdown: Mapped[str] = mapped_column(Text)
    # The language of the text above (the campaign's main version); the other languages'
    # versions are CampaignVersion rows (newsletter/campaign_versions.py).
    locale: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"))
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Aggregate counts kept after delivery records expire (retention).
    stats: Mapped[dict] = mapped_column(JSON, default=dict)

    topic: Mapped[Topic] = relationship()


class Delivery(db.Model):
    """One message of a campaign to one recipient; the unit that workers claim."""

    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id"),
        Index("ix_delivery_claim", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # The recipient's language when the recipients were fixed (counts per language).
    locale: Mapped[str | None] = mapped_column(String(8))


class CampaignVersion(db.Model):
    """A campaign's subject, preheader and body in one more language than its main one
    (`Campaign.locale`, whose text is on the campaign itself). Each recipient gets the
    version in their language, else the default language's, else the main one."""

    __table_args__ = (UniqueConstraint("campaign_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    body_markdown: Mapped[str] = mapped_column(Text)

    campaign: Mapped[Campaign] = relationship(
        backref=backref(
            "versions",
            cascade="all, delete-orphan",
            order_by="CampaignVersion.locale",
        )
    )


class PublishedCampaign(db.Model):
    """A sent campaign the admin chose to show in the public archive (`/archive`).
    No personal data: the campaign and the moment it was published."""

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignOptOut(db.Model):
    """How many people opted out, on one day, through the unsubscribe link of one
    campaign's message (newsletter/campaign_figures.py). A counter, never a reference to
    a person: the opt-out itself erased them."""

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class BounceEvent(db.Model):
    """A bounce or complaint tied to the delivery it answers (through the VERP token).

    Holds no address: the delivery leads to the subscriber while one exists. `digest`
    (SHA-256 of the report) makes processing idempotent: a report fetched twice or
    posted again counts once.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("delivery.id", ondelete="SET NULL"), index=True
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # BounceKind
    status: Mapped[str | None] = mapped_column(String(16))  # RFC 3463 code, e.g. 5.1.1
    source: Mapped[str] = mapped_column(String(16))  # imap, pop3, http, smtp
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
