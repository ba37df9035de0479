"""Column types and the constant sets: statuses, bases, channels and kinds.

Stored as bare strings in the tables; these classes are the one place their values are
written down (issue 14 point 6).
"""

from __future__ import annotations

import secrets

from sqlalchemy import (
    DateTime,
    TypeDecorator,
)

from ..clock import as_utc


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


class BounceKind:
    HARD = "hard"  # permanent failure (5.x.x)
    SOFT = "soft"  # transient failure reported as final (4.x.x): retried
    COMPLAINT = "complaint"  # ARF abuse report: an objection
    ALL = (HARD, SOFT, COMPLAINT)
