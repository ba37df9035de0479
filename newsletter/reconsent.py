"""Biennial re-consent (SPEC rule 6) and the lapse of the existing-customer basis.

Consent-based subscribers are asked once, by a system mail, to renew their consent when
it is older than RECONSENT_INTERVAL_DAYS; a renewal appends a consent event and restarts
the clock; no answer within RECONSENT_GRACE_DAYS erases them exactly as an opt-out does.
Existing-customer subscriptions end CUSTOMER_BASIS_DAYS after the last purchase.
Domain functions flush, never commit: the job or view that calls them commits.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import exists, select

from . import compliance, events, links, notices, people, tokens
from .addresses import address_hash
from .clock import utcnow
from .extensions import db
from .models import (
    Basis,
    Channel,
    ConsentKind,
    LapsedBasis,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SuppressionReason,
)
from .subscriptions import (
    Evidence,
    NotFoundError,
    displayed_consent_text,
    erase,
    record_consent,
    record_event,
    start_reconsent_clock,
    subscriber_by_public_id,
)

log = logging.getLogger(__name__)

# A re-consent link stays valid for the grace period plus this margin, so that a person
# who answers on the last day (or whose mail was delayed) still reaches the page.
TOKEN_MARGIN_DAYS = 7

_has_consent_subscription = exists().where(
    Subscription.subscriber_id == Subscriber.id,
    Subscription.basis == Basis.CONSENT,
    Subscription.confirmed_at.is_not(None),
)


def request_due(now: datetime, interval_days: int, limit: int = 200) -> int:
    """Send the one re-consent mail to up to `limit` subscribers whose consent is due.

    `reconsent_requested_at` records the request, so a later run never asks again.
    Returns how many were asked (0 when nobody is left).
    """
    asked = db.session.scalars(
        select(Subscriber)
        .where(
            compliance.reconsent_due_condition(now, interval_days),
            Subscriber.reconsent_requested_at.is_(None),
            _has_consent_subscription,
        )
        .order_by(Subscriber.id)
        .limit(limit)
    ).all()
    for subscriber in asked:
        _send_request(subscriber, now)
    db.session.flush()
    if asked:
        log.info("re-consent requested from %d subscribers", len(asked))
    return len(asked)


def _send_request(subscriber: Subscriber, now: datetime) -> None:
    subscriber.reconsent_requested_at = now
    grace_days = current_app.config["RECONSENT_GRACE_DAYS"]
    token = tokens.sign(tokens.RECONSENT, subscriber.public_id)
    notices.send_system_mail(
        "reconsent",
        subscriber.email,
        lazy_gettext(
            "Do you still want mail from %(org)s?", org=current_app.config["ORGANIZATION_NAME"]
        ),
        locale=subscriber.locale,
        reconsent_url=links.public_url("public.reconsent", token=token),
        unsubscribe_url=links.unsubscribe_url(subscriber.public_id),
        topics=[s.topic for s in _consent_subscriptions(subscriber)],
        consented_at=subscriber.consented_at,
        deadline=now + timedelta(days=grace_days),
        privacy_url=links.privacy_url(),
    )


def _consent_subscriptions(subscriber: Subscriber) -> list[Subscription]:
    return [
        s
        for s in subscriber.subscriptions
        if s.basis == Basis.CONSENT and s.confirmed_at is not None
    ]


def erase_lapsed(now: datetime, grace_days: int, limit: int = 200) -> int:
    """Erase, exactly as an opt-out, up to `limit` subscribers who did not answer in time.

    Returns how many were erased.
    """
    lapsed = db.session.scalars(
        select(Subscriber)
        .where(compliance.reconsent_lapsed_condition(now, grace_days))
        .order_by(Subscriber.id)
        .limit(limit)
    ).all()
    for subscriber in lapsed:
        erase(subscriber, SuppressionReason.LAPSED, (Channel.EMAIL,), Evidence("re-consent lapsed"))
    if lapsed:
        log.info("erased %d subscribers whose re-consent lapsed", len(lapsed))
    return len(lapsed)


def _token_max_age() -> int:
    days = current_app.config["RECONSENT_GRACE_DAYS"] + TOKEN_MARGIN_DAYS
    return days * 86400


def subscriber_from_token(token: str) -> Subscriber:
    """The subscriber a re-consent link is for, without changing anything.

    Raises InvalidTokenError, ExpiredTokenError or NotFoundError (erased, or never existed).
    """
    public_id = tokens.verify(tokens.RECONSENT, token, _token_max_age())
    subscriber = subscriber_by_public_id(public_id)
    if subscriber is None or subscriber.status != SubscriberStatus.ACTIVE:
        raise NotFoundError()
    return subscriber


def renew_consent(
    token: str, evidence: Evidence, consent_text_id=None, language: str | None = None
) -> tuple[Subscriber, bool]:
    """Renew consent from a re-consent link: append a "renew" event, restart the clock.

    The page shows the consent text in its language (`displayed_consent_text`) beside
    the button; the event records that text (`consent_text_id`, the one the page
    carried, is checked as in `request_signup`: ConsentTextChangedError when it is not the
    text shown now) and the lists' wording.
    Returns the subscriber and False when there was no open request (a second press of
    the button, or a renewal already made): nothing is recorded then.
    """
    subscriber = subscriber_from_token(token)
    requested_at = subscriber.reconsent_requested_at
    if requested_at is None:
        return subscriber, False
    text = displayed_consent_text(language or subscriber.locale)
    compliance.require_shown_consent_text(consent_text_id, text)
    renewed = [s.topic for s in _consent_subscriptions(subscriber)]
    record_consent(
        subscriber,
        ConsentKind.RENEW,
        evidence,
        text,
        renewed,
        detail={"method": "re-consent link", "requested_at": requested_at.isoformat()},
    )
    start_reconsent_clock(subscriber, {t.slug for t in renewed}, utcnow())
    db.session.flush()
    return subscriber, True


# --- existing-customer basis -------------------------------------------------------------


def end_lapsed_customer_basis(now: datetime, basis_days: int, limit: int = 200) -> int:
    """Remove existing-customer subscriptions whose purchase is too old.

    A subscriber left with no subscription at all is deleted. Not suppressed: lapsing is
    not an objection, and a new purchase must be able to bring the person back. Their
    consent events stay, unlinked, under the consent-evidence retention period. A
    `LapsedBasis` marker (keyed hash and the purchase date that lapsed, no address) stops
    an import from bringing them back on that same purchase
    (`compliance.imported_evidence_already_lapsed`).
    Returns how many subscribers lost a subscription.
    """
    lapsed = db.session.scalars(
        select(Subscriber)
        .where(
            compliance.customer_basis_lapsed_condition(now, basis_days),
            exists().where(
                Subscription.subscriber_id == Subscriber.id,
                Subscription.basis == Basis.EXISTING_CUSTOMER,
            ),
        )
        .order_by(Subscriber.id)
        .limit(limit)
    ).all()
    for subscriber in lapsed:
        _drop_customer_subscriptions(subscriber)
    db.session.flush()
    if lapsed:
        log.info("existing-customer basis lapsed for %d subscribers", len(lapsed))
    return len(lapsed)


def _drop_customer_subscriptions(subscriber: Subscriber) -> None:
    dropped = [s for s in subscriber.subscriptions if s.basis == Basis.EXISTING_CUSTOMER]
    record_event(
        subscriber,
        ConsentKind.BASIS_LAPSED,
        Evidence("existing-customer basis lapsed"),
        topics=[s.topic.slug for s in dropped],
        basis=Basis.EXISTING_CUSTOMER,
    )
    for subscription in dropped:
        subscriber.subscriptions.remove(subscription)
    mark_basis_lapsed(
        address_hash(subscriber.email), Basis.EXISTING_CUSTOMER, subscriber.purchased_at
    )
    if not subscriber.subscriptions:
        # Not an objection: no suppression entry; the retired id lets the old messages'
        # links reach a re-import.
        events.emit(events.SUBSCRIBER_ERASED, events.departure(subscriber, "customer-basis-lapsed"))
        people.remove_person(subscriber, keep_evidence=True)


def mark_basis_lapsed(digest: str, basis: str, evidence_date: datetime | None) -> None:
    """Keep (or move forward) the marker that this basis lapsed on this evidence.

    One marker per hash and basis, holding the newest evidence date that lapsed; a later
    lapse with older evidence never moves it back.
    """
    marker = db.session.scalar(
        select(LapsedBasis).where(LapsedBasis.address_hash == digest, LapsedBasis.basis == basis)
    )
    now = utcnow()
    if marker is None:
        db.session.add(
            LapsedBasis(
                address_hash=digest, basis=basis, evidence_date=evidence_date, lapsed_at=now
            )
        )
    elif evidence_date is not None and (
        marker.evidence_date is None or evidence_date > marker.evidence_date
    ):
        marker.evidence_date, marker.lapsed_at = evidence_date, now
    db.session.flush()
