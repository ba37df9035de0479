"""What the newsletter offers and shows: topics, their translations, the consent
wordings and the media library. No subscriber data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db
from .base import (
    UTCDateTime,
)


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
