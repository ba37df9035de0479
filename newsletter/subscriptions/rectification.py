"""Rectification (GDPR Art. 16): name and language at once; an address change
as a new double opt-in, approved first from the current address."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import delete, select

from .. import compliance, i18n, links, notices, tokens
from ..addresses import address_hash, normalise
from ..clock import utcnow
from ..extensions import db
from ..models import (
    AddressChange,
    Channel,
    ConfirmationSend,
    ConsentKind,
    OutboxMessage,
    Subscriber,
    Suppression,
)
from ..people import mark_for_secure_cleanup, scrub_replies
from .core import Evidence, NotFoundError, find_subscriber, record_event, subscriber_by_public_id
from .signup import confirm_max_age

# --- rectification (GDPR Art. 16) --------------------------------------------------------


class AddressTakenError(Exception):
    """The confirmed new address already has a subscription of its own: nothing moved."""


def address_changes(subscriber: Subscriber) -> list[AddressChange]:
    return list(
        db.session.scalars(
            select(AddressChange)
            .where(AddressChange.subscriber_id == subscriber.id)
            .order_by(AddressChange.id)
        )
    )


def rectify(subscriber: Subscriber, evidence: Evidence, name=None, locale=None) -> list[str]:
    """Correct the name and the language at once (`compliance.rectification_applies_at_once`).

    `None` leaves a field as it is; an empty name removes it. Returns the fields that
    changed; the change is recorded as an event naming the fields, never their values
    (the events outlive an erasure). Raises ValueError for a language not offered.
    """
    language = i18n.normalize_locale(locale) if locale is not None else subscriber.locale
    if language is None:
        raise ValueError(f"not a language offered: {locale!r}")  # before any change
    changed = []
    if name is not None:
        name = " ".join(name.split())[:200] or None
        if name != subscriber.name:
            subscriber.name, changed = name, [*changed, "name"]
    if language != subscriber.locale:
        subscriber.locale, changed = language, [*changed, "locale"]
    if changed:
        record_event(subscriber, ConsentKind.RECTIFY, evidence, detail={"fields": changed})
    db.session.flush()
    return changed


def correct_details(
    subscriber: Subscriber,
    evidence: Evidence,
    *,
    name=None,
    locale=None,
    email=None,
    requested_by: str = "subscriber",
) -> tuple[list[str], bool]:
    """Rectification (GDPR Art. 16) from the preferences page or the admin.

    What applies at once (`compliance.rectification_applies_at_once`: name, language)
    changes now; a new address only gets a mail (see `request_address_change`; the
    admin passes `requested_by="admin"`). Returns the fields changed and whether an
    address change was asked for. Raises InvalidAddressError or ValueError before anything
    changes.
    """
    if email is not None and email.strip():
        email = normalise(email)  # bad input: nothing changed yet
    changed = rectify(subscriber, evidence, name=name, locale=locale)
    asked = False
    if email and not compliance.rectification_applies_at_once("email"):
        asked = request_address_change(subscriber, email, evidence, requested_by=requested_by)
    return changed, asked


def request_address_change(
    subscriber: Subscriber, new_email: str, evidence: Evidence, *, requested_by: str = "subscriber"
) -> bool:
    """Ask for an address change; nothing moves before the new address confirmed.

    Asked from the preferences page (a link that may have been forwarded), the current
    address must approve first (`compliance.address_change_first_approved_by_current_address`):
    it gets a short-lived link naming the new address (`approve_address_change`), and only
    then does the new address get its confirmation link. Asked by the admin (who acts on
    the person's request), the new address gets its confirmation link at once.
    The old address keeps its subscription, and its mail, until the new address confirms
    (`confirm_address_change`). Only the latest request counts. Each mail is capped per
    address like every confirmation mail; the answer to the caller is the same either
    way. Returns False when the address is the current one. Raises InvalidAddressError.
    """
    address = normalise(new_email)
    if address == subscriber.email:
        return False
    db.session.execute(delete(AddressChange).where(AddressChange.subscriber_id == subscriber.id))
    change = AddressChange(subscriber_id=subscriber.id, new_email=address, requested_at=utcnow())
    db.session.add(change)
    db.session.flush()
    record_event(
        subscriber, ConsentKind.ADDRESS_CHANGE_REQUEST, evidence
    )  # the address is not kept
    if compliance.address_change_first_approved_by_current_address(requested_by):
        if _confirmation_mail_allowed(subscriber.email):
            token = tokens.sign(tokens.ADDRESS_APPROVE, [subscriber.public_id, change.id])
            notices.send_address_approval(
                subscriber.email,
                subscriber.locale,
                address,
                links.public_url("public.address_approve", token=token),
                compliance.ADDRESS_APPROVAL_MAX_AGE_HOURS * 60,
            )
    else:
        _mail_new_address(subscriber, change, approved_by="admin")
    return True


def _confirmation_mail_allowed(address: str) -> bool:
    """Count one more confirmation mail to `address`, if its daily cap allows it."""
    digest, now = address_hash(address), utcnow()
    per_day = current_app.config["CONFIRM_MAILS_PER_ADDRESS"]
    if not compliance.confirmation_mail_allowed(digest, now, per_day):
        return False
    db.session.add(ConfirmationSend(address_hash=digest, sent_at=now))
    return True


def _mail_new_address(subscriber: Subscriber, change: AddressChange, approved_by: str) -> None:
    """The new address's confirmation link (a new double opt-in); its token says who
    approved the change (`compliance.ADDRESS_CHANGE_APPROVED_BY`)."""
    if _confirmation_mail_allowed(change.new_email):
        token = tokens.sign(tokens.ADDRESS, [subscriber.public_id, change.id, approved_by])
        notices.send_address_confirmation(
            change.new_email,
            subscriber.locale,
            links.public_url("public.address_confirm", token=token),
            current_app.config["CONFIRM_MAX_AGE_HOURS"],
        )


def _change_from_token(purpose: str, token: str, max_age_seconds: int, size: int):
    payload = tokens.verify(purpose, token, max_age_seconds)
    if not (
        isinstance(payload, list)
        and len(payload) == size
        and isinstance(payload[0], str)
        and isinstance(payload[1], int)
    ):
        raise tokens.InvalidTokenError("malformed payload")
    subscriber = subscriber_by_public_id(payload[0])
    change = db.session.get(AddressChange, payload[1])
    if subscriber is None or change is None or change.subscriber_id != subscriber.id:
        raise NotFoundError()
    return subscriber, change, payload


def change_to_approve(token: str) -> tuple[Subscriber, AddressChange]:
    """Read the current address's approval link without changing anything (GET).

    Raises InvalidTokenError, ExpiredTokenError or NotFoundError (replaced, done or erased)."""
    max_age = compliance.ADDRESS_APPROVAL_MAX_AGE_HOURS * 3600
    subscriber, change, _payload = _change_from_token(tokens.ADDRESS_APPROVE, token, max_age, 2)
    return subscriber, change


def approve_address_change(token: str, evidence: Evidence) -> tuple[Subscriber, AddressChange]:
    """The current address approved the change: the new address gets its confirmation
    link now, and its confirmation window starts now (`requested_at`). Nothing moves yet.
    Raises InvalidTokenError, ExpiredTokenError or NotFoundError."""
    subscriber, change = change_to_approve(token)
    change.requested_at = utcnow()
    record_event(
        subscriber, ConsentKind.ADDRESS_CHANGE_APPROVED, evidence
    )  # the address is not kept
    _mail_new_address(subscriber, change, approved_by="current-address")
    db.session.flush()
    return subscriber, change


def pending_address_change(token: str) -> tuple[Subscriber, AddressChange]:
    """Read an address-confirmation link without changing anything (GET).

    Only a link issued after the change was approved (by the current address, or asked
    by the admin) is accepted. Raises InvalidTokenError, ExpiredTokenError or NotFoundError (already
    used, replaced or erased)."""
    subscriber, change, _approved_by = _approved_change(token)
    return subscriber, change


def _approved_change(token: str) -> tuple[Subscriber, AddressChange, str]:
    subscriber, change, payload = _change_from_token(tokens.ADDRESS, token, confirm_max_age(), 3)
    if payload[2] not in compliance.ADDRESS_CHANGE_APPROVED_BY:
        raise tokens.InvalidTokenError("not approved")  # (links of before the approval step)
    return subscriber, change, payload[2]


def confirm_address_change(token: str, evidence: Evidence) -> Subscriber:
    """The new address confirmed: the subscription moves to it, the old one is gone.

    The old address leaves every table (the stored SMTP replies, the outbox copies of
    mails to it) and the SQLite file's bytes; the consent history stays with the
    subscription, and an `address-change` event under the new address's hash points to
    the old hash (so that a later access request finds the whole history). Confirming
    is a new consent of the new address's holder: it lifts that address's email
    suppression, as a signup does. Raises AddressTakenError when the new address already has
    its own subscription (nothing changes).
    """
    subscriber, change, approved_by = _approved_change(token)
    new_address, old_address = change.new_email, subscriber.email
    if find_subscriber(new_address) is not None:
        raise AddressTakenError()
    old_hash, new_hash = address_hash(old_address), address_hash(new_address)
    scrub_replies(subscriber.id, old_address)
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.recipient == old_address))
    db.session.execute(delete(AddressChange).where(AddressChange.subscriber_id == subscriber.id))
    subscriber.email = new_address
    db.session.execute(
        delete(Suppression).where(
            Suppression.address_hash == new_hash, Suppression.channel == Channel.EMAIL
        )
    )
    record_event(
        subscriber,
        ConsentKind.ADDRESS_CHANGE,
        evidence,
        topics=[s.topic.slug for s in subscriber.subscriptions if s.confirmed_at],
        detail={
            "previous_subject_hash": old_hash,
            "method": "confirmation link mailed to the new address",
            "approved_by": approved_by,
        },
    )
    mark_for_secure_cleanup()
    return subscriber
