"""The people and the evidence about them: subscribers, their subscriptions, the
consent events, the suppression list and the rights requests.

Every table here holding a subscriber reference is handled by `people.remove_person`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db
from .base import (
    Basis,
    Channel,
    SubscriberStatus,
    UTCDateTime,
    new_public_id,
)
from .content import ConsentText, Topic


class Subscriber(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default=SubscriberStatus.PENDING, index=True)
    source: Mapped[str] = mapped_column(String(200), default="signup form")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Time of the last consent given or renewed: the re-consent clock starts here.
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reconsent_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Evidence for the existing-customer basis (ePrivacy 13(2)).
    purchased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan"
    )


class RetiredPublicId(db.Model):
    """The public id of a subscriber who was deleted (opt-out, erasure, lapsed basis), with
    the keyed hash of the address, never the address: the links of the older messages
    carry this id, and they must still reach the person as they are now, after a new
    signup or import under a new id (compliance.opt_out_link_reaches_current_subscription).
    Kept as long as the suppression list: those links never expire."""

    public_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), index=True)
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscription(db.Model):
    """A subscriber on a topic. Effective only once confirmed (confirmed_at set)."""

    __table_args__ = (UniqueConstraint("subscriber_id", "topic_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id", ondelete="CASCADE"), index=True)
    basis: Mapped[str] = mapped_column(String(32), default=Basis.CONSENT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    topic: Mapped[Topic] = relationship()


class ConsentEvent(db.Model):
    """Append-only evidence of consent (GDPR Art. 7(1)): never updated, except that
    `subscriber_id` is cleared on erasure; `subject_hash` keys it from the start."""

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="SET NULL"), index=True
    )
    subject_hash: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    consent_text_id: Mapped[int | None] = mapped_column(ForeignKey("consent_text.id"))
    topics: Mapped[list] = mapped_column(JSON, default=list)
    # The lists' wording as the person saw it then ([{"slug", "name", "description"}]), so
    # that a renamed list does not change what an old consent covers. None: not a consent
    # given on our pages, or recorded before issue 13.
    topic_wording: Mapped[list | None] = mapped_column(JSON)
    basis: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    consent_text: Mapped[ConsentText | None] = relationship()
    # An "import" event's evidence of the earlier consent or purchase (None otherwise).
    import_evidence: Mapped[ImportEvidence | None] = relationship(
        back_populates="consent_event", passive_deletes=True
    )


class ImportEvidence(db.Model):
    """What an imported row proves, kept with its "import" consent event (GDPR Art. 7(1)).

    Basis consent: the wording agreed to (`consent_text`, or `consent_text_ref` naming
    where the exact wording is kept), when (`given_at`), where (`consent_where`: the form,
    URL or shop), how (`consent_how`, e.g. "double opt-in on our old site") and from which
    earlier system (`consent_system`). Basis existing-customer: the purchase date
    (`given_at`) and how the opt-out was offered when the address was collected
    (`optout_offered`, ePrivacy 13(2)). Append-only like its event, and deleted with it
    (consent-evidence retention); it holds no address: the event is keyed by the hash.
    docs/IMPORTS.md describes the CSV columns these come from.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    consent_event_id: Mapped[int] = mapped_column(
        ForeignKey("consent_event.id", ondelete="CASCADE"), unique=True
    )
    basis: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_text_ref: Mapped[str | None] = mapped_column(String(500))
    consent_where: Mapped[str | None] = mapped_column(String(500))
    consent_how: Mapped[str | None] = mapped_column(String(500))
    consent_system: Mapped[str | None] = mapped_column(String(200))
    optout_offered: Mapped[str | None] = mapped_column(String(500))
    # Who declared that these are the business's own contacts (admin address or "cli").
    declared_by: Mapped[str] = mapped_column(String(320))

    consent_event: Mapped[ConsentEvent] = relationship(back_populates="import_evidence")


class LapsedBasis(db.Model):
    """A basis that lapsed, by keyed hash (never the address), with the evidence date.

    Left when the existing-customer basis lapses (`reconsent.end_lapsed_customer_basis`):
    an import may not bring the person back on the same evidence, only on newer (a later
    purchase). `evidence_date` is the newest lapsed evidence (None: there was none).
    """

    __table_args__ = (UniqueConstraint("address_hash", "basis"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64))
    basis: Mapped[str] = mapped_column(String(32))
    evidence_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lapsed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(db.Model):
    """Who must not be contacted on a channel: a keyed hash, never the address.

    Also the objection register for the business's other channels (GBA 19/2021)."""

    __table_args__ = (UniqueConstraint("address_hash", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), default=Channel.EMAIL)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConfirmationSend(db.Model):
    """Confirmation mails sent per address hash (list-bombing guard); kept 24 hours."""

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AddressChange(db.Model):
    """A subscriber's new address, waiting for its confirmation link to be used.

    GDPR Art. 16 with a new double opt-in: until the new address confirms, mail goes to
    the old one; on confirmation the old address is replaced everywhere and this row is
    deleted. Unconfirmed rows are purged with the unconfirmed signups (48 h)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscriber.id", ondelete="CASCADE"), index=True
    )
    new_email: Mapped[str] = mapped_column(String(320))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RightsRequest(db.Model):
    """A data subject's request (export, erasure), logged without the address."""

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    subject_hash: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
