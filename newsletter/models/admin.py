"""The staff side: admin accounts, API tokens, the audit log and the breach log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db
from .base import (
    UTCDateTime,
)


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
