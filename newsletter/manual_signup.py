"""One person added by hand by an admin (issue 16): "asked at the shop counter".

The person is not subscribed by the admin's word: the addition is a pending double
opt-in, exactly like a signup on the form, and the confirmation mail goes out. Nothing
else is sent until the person confirms, and unconfirmed additions are purged with the
other unconfirmed signups. The admin's reason is the consent record's source and
evidence (the "signup" event: source, `detail.reason`, `detail.added_by`), and the
audit log's entry (written by the view, without the address). A suppressed address is
refused (`compliance.refusal_of_manual_signup`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from . import compliance, i18n, subscriptions
from .addresses import address_hash, normalise
from .extensions import db
from .models import Basis, Subscriber, Subscription

METHOD = "added by hand in the admin"


class ManualSignupRefused(ValueError):
    """The person cannot be added; the message says why (shown to the admin)."""


@dataclass(frozen=True)
class ManualSignup:
    subscriber: Subscriber
    topics: list[str]  # the lists the confirmation mail asks about
    mailed: bool  # False: the per-address daily cap of confirmation mails was reached


def add_by_hand(
    email: str,
    topic_slugs: list[str],
    reason: str,
    admin_id: int,
    name: str | None = None,
    locale: str | None = None,
) -> ManualSignup:
    """Record a pending signup for `email` and queue its confirmation mail (flushed).

    Raises InvalidAddressError for a bad address and ManualSignupRefused for a suppressed
    address, no list, no reason, or a person already confirmed on every list asked.
    """
    address = normalise(email)
    reason = " ".join((reason or "").split())
    if len(reason) < 10:
        raise ManualSignupRefused("Say how and when the person asked to be added.")
    refusal = compliance.refusal_of_manual_signup(address_hash(address))
    if refusal:
        raise ManualSignupRefused(refusal)
    topics = subscriptions.topics_by_slug(topic_slugs)
    if not topics:
        raise ManualSignupRefused("Choose at least one list.")
    language = i18n.normalize_locale(locale) or i18n.DEFAULT
    subscriber = _subscriber_for(address, name, language)
    asked = _add_pending(subscriber, topics)
    if not asked:
        raise ManualSignupRefused(
            "This person is subscribed to these lists already: nothing was sent."
        )
    text = subscriptions.displayed_consent_text(subscriber.locale)
    event = subscriptions.record_consent(
        subscriber,
        "signup",
        subscriptions.Evidence(source=f"{METHOD}: {reason}"),
        text,
        asked,
        detail={"method": METHOD, "reason": reason, "added_by": admin_id},
    )
    mailed = subscriptions.send_confirmation(subscriber, event)
    return ManualSignup(subscriber, [t.slug for t in asked], mailed)


def _subscriber_for(address: str, name: str | None, language: str) -> Subscriber:
    """The person with this address; created (pending, no list yet) when there is none."""
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is None:
        subscriber = Subscriber(email=address, name=name or None, locale=language, source=METHOD)
        db.session.add(subscriber)
        db.session.flush()
    return subscriber


def _add_pending(subscriber: Subscriber, topics) -> list:
    """The lists to ask about: those not confirmed yet (pending ones are asked again)."""
    held = {s.topic_id: s for s in subscriber.subscriptions}
    asked = []
    for topic in topics:
        current = held.get(topic.id)
        if current is None:
            subscriber.subscriptions.append(Subscription(topic=topic, basis=Basis.CONSENT))
            asked.append(topic)
        elif current.confirmed_at is None:
            asked.append(topic)
    db.session.flush()
    return asked
