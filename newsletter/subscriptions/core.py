"""What every step of the journey shares: its errors, the evidence of a request,
consent texts and topics, finding a subscriber, recording a consent event."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from .. import i18n, tokens, topic_translations
from ..addresses import address_hash, normalise
from ..clock import utcnow
from ..extensions import db
from ..models import (
    Basis,
    ConsentEvent,
    ConsentText,
    Subscriber,
    Topic,
)


class NotFoundError(Exception):
    """The subscriber a valid link points to no longer exists (opted out or purged).

    `known`: the link's person is known (its public id was retired with the keyed hash)
    and nobody is subscribed under them now; False when nothing is known of the link.
    """

    def __init__(self, known: bool = False):
        super().__init__("no subscription for this link")
        self.known = known


class InertLinkError(tokens.InvalidTokenError):
    """The link of an admin's test send or of a preview: it acts on nobody, ever.

    An InvalidTokenError to every caller that does not know test links (nothing is done for
    it); the public pages answer it with "this was a test message; nothing was changed",
    in the test's `language` (None: the visitor's)."""

    def __init__(self, language: str | None):
        super().__init__("a test message's link")
        self.language = language


class OptOut:
    """What an unsubscribe-from-all link did (`OptOutResult.outcome`)."""

    ERASED = "erased"  # the person's current subscriber was erased
    NOBODY = "nobody"  # the person is known, nobody is subscribed: the objection is on record
    UNKNOWN = "unknown"  # no subscription is known for this link: nothing was changed


@dataclass(frozen=True)
class OptOutResult:
    outcome: str
    older: bool = False  # the link came from an older subscription of the person
    language: str | None = None  # the erased subscriber's language


@dataclass(frozen=True)
class Evidence:
    """How a consent action reached us: kept in the consent record (checklist D3)."""

    source: str
    ip: str | None = None
    user_agent: str | None = None


# --- consent texts and topics ------------------------------------------------------------


def current_consent_text(locale: str | None = None) -> ConsentText | None:
    """The newest version of the consent wording in this language (default: the default
    language's), or None when that language has no text."""
    language = i18n.language_of(locale)
    return db.session.scalars(
        select(ConsentText)
        .where(ConsentText.locale == language)
        .order_by(ConsentText.version.desc())
    ).first()


def displayed_consent_text(language: str | None) -> ConsentText:
    """The consent text a page in `language` shows beside the box, and the one its consent
    event records: that language's current version, else the default language's (the
    page then says that the text is in that language)."""
    return current_consent_text(language) or current_consent_text(i18n.default_language())


def consent_text_languages_missing() -> list[str]:
    """The languages offered that have no consent text of their own (shown the default's)."""
    have = set(db.session.scalars(select(ConsentText.locale).distinct()))
    return [code for code in i18n.offered() if code not in have]


def add_consent_text(text: str, locale: str | None = None) -> ConsentText:
    """Store a new wording as that language's next version; earlier versions stay untouched.

    Raises ValueError for an empty text or a language not offered."""
    language = i18n.normalize_locale(locale or i18n.default_language())
    if language is None:
        raise ValueError(f"not a language offered: {locale!r}")
    text = text.strip()
    if not text:
        raise ValueError("the consent text is empty")
    digest = hashlib.sha256(text.encode()).hexdigest()
    existing = db.session.scalar(
        select(ConsentText).where(ConsentText.locale == language, ConsentText.sha256 == digest)
    )
    if existing is not None:
        return existing
    latest = current_consent_text(language)
    row = ConsentText(
        locale=language,
        version=(latest.version + 1) if latest else 1,
        text=text,
        sha256=digest,
    )
    db.session.add(row)
    db.session.flush()
    return row


def topic_wording(topics: list[Topic], language: str | None = None) -> list[dict]:
    """The lists' name and description as shown now (in the page's language), kept with
    a consent event."""
    return topic_translations.wording(topics, language or _shown_language())


def _shown_language() -> str | None:
    """The language of the page being answered, if any (the wording it showed)."""
    from flask import has_request_context
    from flask_babel import get_locale

    return str(get_locale()) if has_request_context() else None


def public_topics() -> list[Topic]:
    """Topics offered on the signup form, in a stable order."""
    return list(db.session.scalars(select(Topic).order_by(Topic.id)))


def topics_by_slug(slugs: list[str]) -> list[Topic]:
    """The topics named, ignoring unknown slugs."""
    if not slugs:
        return []
    return list(db.session.scalars(select(Topic).where(Topic.slug.in_(slugs)).order_by(Topic.id)))


# --- records -----------------------------------------------------------------------------


def find_subscriber(email: str) -> Subscriber | None:
    """The subscriber with this address (any spelling), or None."""
    return db.session.scalar(select(Subscriber).where(Subscriber.email == normalise(email)))


def subscriber_by_public_id(public_id) -> Subscriber | None:
    if not isinstance(public_id, str):
        return None
    return db.session.scalar(select(Subscriber).where(Subscriber.public_id == public_id))


def record_event(subscriber: Subscriber, kind: str, evidence: Evidence, **fields) -> ConsentEvent:
    """Append one consent event (never updated afterwards)."""
    event = ConsentEvent(
        subscriber_id=subscriber.id,
        subject_hash=address_hash(subscriber.email),
        kind=kind,
        occurred_at=utcnow(),
        source=evidence.source[:200],
        ip=evidence.ip,
        user_agent=(evidence.user_agent or "")[:400] or None,
        **fields,
    )
    db.session.add(event)
    db.session.flush()
    return event


def record_consent(
    subscriber: Subscriber,
    kind: str,
    evidence: Evidence,
    text: ConsentText,
    topics: list[Topic],
    language: str | None = None,
    **fields,
) -> ConsentEvent:
    """Append a consent given on our pages (basis consent): the wording shown beside the
    box, the lists by slug, and their name and description as shown (`topic_wording`)."""
    return record_event(
        subscriber,
        kind,
        evidence,
        consent_text_id=text.id,
        topics=[t.slug for t in topics],
        topic_wording=topic_wording(topics, language),
        basis=Basis.CONSENT,
        **fields,
    )
