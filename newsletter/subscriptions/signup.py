"""Signup and double opt-in confirmation; the re-consent clock; the purge of
unconfirmed signups."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import delete, select

from .. import compliance, events, i18n, links, notices, people, tokens
from ..addresses import normalise
from ..clock import utcnow
from ..extensions import db
from ..models import (
    AddressChange,
    Basis,
    Channel,
    ConfirmationSend,
    ConsentEvent,
    ConsentKind,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
)
from ..people import mark_for_secure_cleanup
from .core import (
    Evidence,
    NotFoundError,
    displayed_consent_text,
    record_consent,
    record_event,
    subscriber_by_public_id,
    topics_by_slug,
)

# --- signup and confirmation -------------------------------------------------------------


def request_signup(
    email: str,
    topic_slugs: list[str],
    consent_given: bool,
    consent_text_id,
    evidence: Evidence,
    name: str | None = None,
    locale: str = "en",
) -> None:
    """Record a pending signup and queue its confirmation mail.

    `consent_text_id` is the text the page said it showed; the event records the text
    the server shows in `locale` (`displayed_consent_text`), and a page that showed
    another (an older version, another language's) raises ConsentTextChangedError.
    Raises InvalidAddressError or ComplianceError for bad input. Otherwise the outcome is the
    same for the caller whatever state the address is in (no enumeration): a new,
    pending, active or suppressed address all get a confirmation mail, within the
    per-address cap. A suppressed person may come back through double opt-in (SPEC).
    """
    address = normalise(email)
    topics = topics_by_slug(topic_slugs)
    compliance.require_explicit_consent(consent_given, [t.slug for t in topics])
    language = i18n.language_of(locale)  # "nl-BE" is stored "nl"
    text = displayed_consent_text(language)
    compliance.require_shown_consent_text(consent_text_id, text)
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is None:
        subscriber = Subscriber(email=address, name=name or None, locale=language)
        db.session.add(subscriber)
        db.session.flush()
    have = {s.topic_id for s in subscriber.subscriptions if s.confirmed_at is not None}
    pending = {s.topic_id for s in subscriber.subscriptions if s.confirmed_at is None}
    for topic in topics:
        if topic.id not in have and topic.id not in pending:
            subscriber.subscriptions.append(Subscription(topic=topic, basis=Basis.CONSENT))
    event = record_consent(subscriber, ConsentKind.SIGNUP, evidence, text, topics, language)
    send_confirmation(subscriber, event)


def send_confirmation(subscriber: Subscriber, signup_event: ConsentEvent) -> bool:
    """Queue the double opt-in mail unless the per-address daily cap is reached."""
    digest = signup_event.subject_hash
    now = utcnow()
    per_day = current_app.config["CONFIRM_MAILS_PER_ADDRESS"]
    if not compliance.confirmation_mail_allowed(digest, now, per_day):
        return False
    db.session.add(ConfirmationSend(address_hash=digest, sent_at=now))
    token = tokens.sign(tokens.CONFIRM, [subscriber.public_id, signup_event.id])
    notices.send_system_mail(
        "confirm",
        subscriber.email,
        lazy_gettext(
            "Please confirm your subscription to %(org)s",
            org=current_app.config["ORGANIZATION_NAME"],
        ),
        locale=subscriber.locale,
        confirm_url=links.public_url("public.confirm", token=token),
        topics=topics_by_slug(signup_event.topics),
        max_age_hours=current_app.config["CONFIRM_MAX_AGE_HOURS"],
        privacy_url=links.privacy_url(),
    )
    return True


def confirm_max_age() -> int:
    return current_app.config["CONFIRM_MAX_AGE_HOURS"] * 3600


def pending_confirmation(token: str) -> tuple[Subscriber, ConsentEvent]:
    """Read a confirmation link without changing anything (GET must not confirm).

    Raises InvalidTokenError, ExpiredTokenError or NotFoundError.
    """
    payload = tokens.verify(tokens.CONFIRM, token, confirm_max_age())
    return _signup_from_payload(payload)


def _signup_from_payload(payload) -> tuple[Subscriber, ConsentEvent]:
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], int)):
        raise tokens.InvalidTokenError("malformed payload")
    subscriber = subscriber_by_public_id(payload[0])
    event = db.session.get(ConsentEvent, payload[1])
    if subscriber is None or event is None or event.subscriber_id != subscriber.id:
        raise NotFoundError()
    return subscriber, event


def confirm_signup(token: str, evidence: Evidence) -> tuple[Subscriber, bool]:
    """Confirm a signup: the subscriber becomes active on the topics chosen then.

    Returns the subscriber and False when this signup was already confirmed (a second
    use is harmless).
    The consent event records the confirmation's own time, IP and user agent, and
    points at the signup event (its text version, topics, IP and user agent).
    """
    subscriber, signup = pending_confirmation(token)
    already = db.session.scalar(
        select(ConsentEvent.id).where(
            ConsentEvent.subscriber_id == subscriber.id,
            ConsentEvent.kind == ConsentKind.CONFIRM,
            ConsentEvent.detail["signup_event_id"].as_integer() == signup.id,
        )
    )
    if already:
        return subscriber, False
    now = utcnow()
    wanted = set(signup.topics)
    for subscription in subscriber.subscriptions:
        if subscription.confirmed_at is None and subscription.topic.slug in wanted:
            subscription.confirmed_at = now
    first_confirmation = subscriber.status == SubscriberStatus.PENDING  # welcome mail
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.confirmed_at = subscriber.confirmed_at or now
    start_reconsent_clock(subscriber, wanted, now)
    # A new, confirmed consent lifts an earlier email opt-out for this address.
    db.session.execute(
        delete(Suppression).where(
            Suppression.address_hash == signup.subject_hash, Suppression.channel == Channel.EMAIL
        )
    )
    record_event(
        subscriber,
        ConsentKind.CONFIRM,
        evidence,
        consent_text_id=signup.consent_text_id,
        topics=signup.topics,
        topic_wording=signup.topic_wording,
        basis=Basis.CONSENT,
        detail={"signup_event_id": signup.id, "method": "double opt-in link"},
    )
    events.emit(events.SUBSCRIBER_CONFIRMED, events.subscriber_data(subscriber))
    if first_confirmation:
        notices.send_welcome(subscriber)
    return subscriber, True


def start_reconsent_clock(subscriber: Subscriber, consented: set[str], at) -> None:
    """Every consent starts, or keeps running, the re-consent clock (`consented_at`).

    `consented`: the slugs of the lists this consent covers, already on the subscriber.
    A consent that covers all their consent lists ends an open re-consent request.
    """
    held = {
        s.topic.slug
        for s in subscriber.subscriptions
        if s.basis == Basis.CONSENT and s.confirmed_at is not None
    }
    covers_all = held <= set(consented)
    subscriber.consented_at = compliance.reconsent_clock_after(
        subscriber.consented_at, at, covers_all
    )
    if covers_all:
        subscriber.reconsent_requested_at = None


def resend_confirmation(token: str) -> bool:
    """After an expired link: send a fresh confirmation if the signup still exists."""
    try:
        tokens.verify(tokens.CONFIRM, token, confirm_max_age())
        return False  # not expired: nothing to renew
    except tokens.ExpiredTokenError as expired:
        subscriber, signup = _signup_from_payload(expired.payload)
    return send_confirmation(subscriber, signup)


def purge_unconfirmed(now, max_age_hours: int) -> int:
    """Delete pending signups older than the confirmation window, with their records.

    Unconfirmed people never consented: nothing of them is kept, not even a hash.
    """
    cutoff = now - timedelta(hours=max_age_hours)
    stale = list(
        db.session.scalars(
            select(Subscriber).where(
                Subscriber.status == SubscriberStatus.PENDING, Subscriber.created_at < cutoff
            )
        )
    )
    for subscriber in stale:
        people.remove_person(subscriber, keep_evidence=False, retire_id=False)
    # Unconfirmed topic additions of active subscribers expire too.
    db.session.execute(
        delete(Subscription).where(
            Subscription.confirmed_at.is_(None), Subscription.created_at < cutoff
        )
    )
    db.session.execute(delete(ConfirmationSend).where(ConfirmationSend.sent_at < cutoff))
    # Address changes nobody confirmed in time: the new address was never consented.
    db.session.execute(delete(AddressChange).where(AddressChange.requested_at < cutoff))
    db.session.flush()
    mark_for_secure_cleanup()
    return len(stale)
