"""Tables and status sets.

Personal data lives in `Subscriber`, `Subscription`, `Delivery` (by reference),
`OutboxMessage` and `ConsentEvent` (IP, user agent). After an opt-out or erasure only
`Suppression`, `ConsentEvent` and `RetiredPublicId` remain, keyed by a keyed hash of the
address.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from .clock import as_utc, utcnow
from .extensions import db


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else as_utc(value)


def new_public_id() -> str:
    """An opaque random id, the only subscriber identifier that ever leaves the database."""
    return secrets.token_urlsafe(16)


class SubscriberStatus:
    PENDING = "pending"  # signed up, not confirmed: gets nothing but the confirmation mail
    ACTIVE = "active"
    ALL = (PENDING, ACTIVE)


class Basis:
    CONSENT = "consent"
    EXISTING_CUSTOMER = "existing-customer"
    ALL = (CONSENT, EXISTING_CUSTOMER)


class Channel:
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    POST = "post"
    ALL = (EMAIL, SMS, PHONE, POST)


class ConsentKind:
    """`ConsentEvent.kind`: what happened to the person's consent (append-only evidence)."""

    SIGNUP = "signup"
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    WITHDRAW = "withdraw"
    ERASE = "erase"
    OBJECTION = "objection"
    RENEW = "renew"
    IMPORT = "import"
    RECTIFY = "rectify"
    ADDRESS_CHANGE_REQUEST = "address-change-request"
    ADDRESS_CHANGE_APPROVED = "address-change-approved"
    ADDRESS_CHANGE = "address-change"
    BASIS_LAPSED = "basis-lapsed"


class SuppressionReason:
    """`Suppression.reason` (and the reason an erasure records)."""

    UNSUBSCRIBED = "unsubscribed"
    OBJECTION = "objection"
    ERASED = "erased"
    LAPSED = "lapsed"  # re-consent unanswered
    COMPLAINED = "complained"
    BOUNCED = "bounced"


class RequestKind:
    """`RightsRequest.kind`: the data subject's right exercised."""

    EXPORT = "export"
    ERASURE = "erasure"
    OBJECTION = "objection"


class CampaignStatus:
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    ALL = (DRAFT, SCHEDULED, SENDING, SENT, CANCELLED)


class DeliveryStatus:
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker (lease in claimed_until)
    SENT = "sent"
    DEFERRED = "deferred"  # 4xx: retried later
    FAILED = "failed"  # 5xx: hard bounce, never retried
    SKIPPED = "skipped"  # lost its lawful basis (opt-out) before it was handed to SMTP
    ALL = (QUEUED, SENDING, SENT, DEFERRED, FAILED, SKIPPED)


class Setting(db.Model):
    """Installation-wide values generated once (e.g. the suppression key)."""

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Topic(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    own_similar_products: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the own-similar-products topic is about, written down when it is marked so
    # (the existing-customer exception covers only products like those bought).
    product_range: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TopicTranslation(db.Model):
    """A topic's name and description in one language (issue 15). The topic's own name and
    description are the base text, shown where a language has no translation."""

    __table_args__ = (UniqueConstraint("topic_id", "locale", name="uq_topic_translation_locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id", ondelete="CASCADE"), index=True)
    locale: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")


class ConsentText(db.Model):
    """An exact consent wording in one language, as shown beside the box. Immutable: an
    edit is a new version of that language's text (versions count per language)."""

    __table_args__ = (
        UniqueConstraint("locale", "version", name="uq_consent_text_locale_version"),
        UniqueConstraint("locale", "sha256", name="uq_consent_text_locale_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    locale: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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


class AdminUser(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Issue 16: roles, deactivation, two-factor login (newsletter/admins.py).
    role: Mapped[str] = mapped_column(String(16), default="owner", server_default="owner")
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(500))  # encrypted (admins.py)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # a code is used once
    # The language of this admin's pages (nl, fr, en); None: the browser's language.
    locale: Mapped[str | None] = mapped_column(String(8))

    # Flask-Login protocol
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.deactivated_at is None

    def get_id(self) -> str:
        return str(self.id)


class AuditEntry(db.Model):
    """Who did what to personal data, and when. Never holds an erased address."""

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class ApiToken(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RightsRequest(db.Model):
    """A data subject's request (export, erasure), logged without the address."""

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    subject_hash: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(db.Model):
    """A mail kept by the built-in outbox (no SMTP server configured)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    sender: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(500))
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class JobLease(db.Model):
    """A periodic job's lease: several workers, one run per period."""

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(100))
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- bounces ---


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


class BounceKind:
    HARD = "hard"  # permanent failure (5.x.x)
    SOFT = "soft"  # transient failure reported as final (4.x.x): retried
    COMPLAINT = "complaint"  # ARF abuse report: an objection
    ALL = (HARD, SOFT, COMPLAINT)


# --- breach log (GDPR Art. 33(5)) ---


class BreachLogEntry(db.Model):
    """One entry of the personal-data breach log (GDPR Art. 33(5)): the facts, the
    effects and the remedial action. Append-only: a correction is a new entry that
    names the one it corrects (`corrects_id`); `breaches.py` refuses updates and
    deletes. Holds no subscriber's address: the affected people are described by
    category and number only."""

    id: Mapped[int] = mapped_column(primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    recorded_by: Mapped[str] = mapped_column(String(320))  # the admin (staff, not a subscriber)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("breach_log_entry.id"))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: not known
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    nature: Mapped[str] = mapped_column(Text)
    data_categories: Mapped[str] = mapped_column(Text)
    people_affected: Mapped[int | None] = mapped_column(Integer)  # approximate; None: unknown
    consequences: Mapped[str] = mapped_column(Text)
    measures: Mapped[str] = mapped_column(Text)
    authority_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    authority_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    people_informed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why the authority or the people were (not) told, and the reasons for any delay.
    reasoning: Mapped[str] = mapped_column(Text, default="")


# --- rectification (issue 13) ---


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


# --- language versions of a campaign (issue 15) ---


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


# --- web version, archive and per-campaign figures (issue 16) ---


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


# --- media library (issue 16) ---


class Media(db.Model):
    """An image uploaded in the admin, stored re-encoded without metadata under a
    content-addressed name (newsletter/media.py) and served at /media/<name>. Holds no
    subscriber data; `uploaded_by` is the admin (staff)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # sha256[:32] + extension
    alt: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    uploaded_by: Mapped[str] = mapped_column(String(320), default="")


# --- outgoing webhooks (issue 16) ---


class WebhookEndpoint(db.Model):
    """A URL the business's other systems receive events at, signed with `secret`.

    Holds no personal data: the URL and events are the business's own configuration;
    the secret is kept as is (HMAC signing needs it) and shown once, when created."""

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="endpoint", cascade="all, delete-orphan", passive_deletes=True
    )


class WebhookDelivery(db.Model):
    """One event queued for one endpoint (the outbox), written in the transaction of the
    change it reports and sent after the commit by the `webhook-deliveries` job.

    No subscriber reference and no address: the payload names a subscriber only by the
    opaque public id (docs/API.md, "Webhooks"); the log columns hold the HTTP status and
    a short error, never the receiver's answer."""

    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship(back_populates="deliveries")
