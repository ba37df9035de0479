"""The subscriber's journey: signup, confirm, preferences, opt-out (erasure), export.

Domain functions flush, never commit: the view, command or job that calls them commits,
and system mails leave after that commit (see mailer.send_after_commit).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import delete, or_, select

from . import compliance, i18n, links, messages, notices, people, tokens
from .addresses import address_hash, normalise
from .clock import utcnow
from .extensions import db
from .models import (
    AddressChange,
    Basis,
    Channel,
    ConfirmationSend,
    ConsentEvent,
    ConsentText,
    Delivery,
    OutboxMessage,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
)
from .people import mark_for_secure_cleanup, scrub_replies, suppress


class NotFound(Exception):
    """The subscriber a valid link points to no longer exists (opted out or purged).

    `known`: the link's person is known (its public id was retired with the keyed hash)
    and nobody is subscribed under them now; False when nothing is known of the link.
    """

    def __init__(self, known: bool = False):
        super().__init__("no subscription for this link")
        self.known = known


class InertLink(tokens.InvalidToken):
    """The link of an admin's test send or of a preview: it acts on nobody, ever.

    An InvalidToken to every caller that does not know test links (nothing is done for
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
    language = i18n.normalize_locale(locale) or i18n.DEFAULT
    return db.session.scalars(
        select(ConsentText)
        .where(ConsentText.locale == language)
        .order_by(ConsentText.version.desc())
    ).first()


def displayed_consent_text(language: str | None) -> ConsentText:
    """The consent text a page in `language` shows beside the box, and the one its consent
    event records: that language's current version, else the default language's (the
    page then says that the text is in that language)."""
    return current_consent_text(language) or current_consent_text(i18n.DEFAULT)


def consent_text_languages_missing() -> list[str]:
    """The languages offered that have no consent text of their own (shown the default's)."""
    have = set(db.session.scalars(select(ConsentText.locale).distinct()))
    return [code for code in i18n.LANGUAGES if code not in have]


def add_consent_text(text: str, locale: str | None = None) -> ConsentText:
    """Store a new wording as that language's next version; earlier versions stay untouched.

    Raises ValueError for an empty text or a language not offered."""
    language = i18n.normalize_locale(locale or i18n.DEFAULT)
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


def topic_wording(topics: list[Topic]) -> list[dict]:
    """The lists' name and description as shown now, kept with a consent event."""
    return [{"slug": t.slug, "name": t.name, "description": t.description or ""} for t in topics]


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
    another (an older version, another language's) raises ConsentTextChanged.
    Raises InvalidAddress or ComplianceError for bad input. Otherwise the outcome is the
    same for the caller whatever state the address is in (no enumeration): a new,
    pending, active or suppressed address all get a confirmation mail, within the
    per-address cap. A suppressed person may come back through double opt-in (SPEC).
    """
    address = normalise(email)
    topics = topics_by_slug(topic_slugs)
    compliance.require_explicit_consent(consent_given, [t.slug for t in topics])
    language = i18n.normalize_locale(locale) or i18n.DEFAULT  # "nl-BE" is stored "nl"
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
    event = record_event(
        subscriber,
        "signup",
        evidence,
        consent_text_id=text.id,
        topics=[t.slug for t in topics],
        topic_wording=topic_wording(topics),
        basis=Basis.CONSENT,
    )
    send_confirmation(subscriber, event)


def send_confirmation(subscriber: Subscriber, signup_event: ConsentEvent) -> bool:
    """Queue the double opt-in mail unless the per-address daily cap is reached."""
    digest = signup_event.subject_hash
    now = utcnow()
    per_day = int(current_app.config["CONFIRM_MAILS_PER_ADDRESS"])
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


def _confirm_max_age() -> int:
    return int(current_app.config["CONFIRM_MAX_AGE_HOURS"]) * 3600


def pending_confirmation(token: str) -> tuple[Subscriber, ConsentEvent]:
    """Read a confirmation link without changing anything (GET must not confirm).

    Raises InvalidToken, ExpiredToken or NotFound.
    """
    payload = tokens.verify(tokens.CONFIRM, token, _confirm_max_age())
    return _signup_from_payload(payload)


def _signup_from_payload(payload) -> tuple[Subscriber, ConsentEvent]:
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], int)):
        raise tokens.InvalidToken("malformed payload")
    subscriber = subscriber_by_public_id(payload[0])
    event = db.session.get(ConsentEvent, payload[1])
    if subscriber is None or event is None or event.subscriber_id != subscriber.id:
        raise NotFound()
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
            ConsentEvent.kind == "confirm",
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
        "confirm",
        evidence,
        consent_text_id=signup.consent_text_id,
        topics=signup.topics,
        topic_wording=signup.topic_wording,
        basis=Basis.CONSENT,
        detail={"signup_event_id": signup.id, "method": "double opt-in link"},
    )
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
        tokens.verify(tokens.CONFIRM, token, _confirm_max_age())
        return False  # not expired: nothing to renew
    except tokens.ExpiredToken as expired:
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


# --- preferences and opt-out -------------------------------------------------------------


def link_target(purpose: str, token: str) -> compliance.LinkPerson:
    """Whom an unsubscribe or preferences link acts on now, without changing anything.

    A link of an older message reaches the person's current subscriber (see
    compliance.opt_out_link_reaches_current_subscription). Raises InvalidToken (tampered,
    garbage, another purpose) or InertLink (a test send's or a preview's link).
    """
    try:
        public_id = tokens.verify(purpose, token)
    except tokens.InvalidToken:
        language = _test_link_language(purpose, token)
        if language is None:
            raise
        raise InertLink(language) from None
    if not isinstance(public_id, str):
        raise tokens.InvalidToken("malformed payload")
    if public_id == messages.SAMPLE_PUBLIC_ID:  # a preview's links
        raise InertLink(None)
    return compliance.opt_out_link_reaches_current_subscription(public_id)


def _test_link_language(purpose: str, token: str) -> str | None:
    """The language of a test send's link for this purpose, None when it is none."""
    try:
        payload = tokens.verify(tokens.TEST, token)
    except tokens.InvalidToken:
        return None
    if not (isinstance(payload, list) and len(payload) == 2 and payload[0] == purpose):
        return None
    return i18n.normalize_locale(payload[1]) or i18n.DEFAULT


def subscriber_of(target: compliance.LinkPerson) -> Subscriber:
    """The subscriber a link acts on; NotFound when nobody is subscribed under it."""
    if target.subscriber is None:
        raise NotFound(known=target.address_hash is not None)
    return target.subscriber


def subscriber_from_link(purpose: str, token: str) -> Subscriber:
    """The subscriber behind an unsubscribe or preferences link, as the person is now.

    Raises InvalidToken (tampered, garbage), InertLink (a test link) or NotFound (nobody
    is subscribed under it)."""
    return subscriber_of(link_target(purpose, token))


def update_preferences(
    subscriber: Subscriber,
    topic_slugs: list[str],
    evidence: Evidence,
    consent_given: bool = False,
    consent_text_id=None,
    language: str | None = None,
) -> bool:
    """Keep exactly the chosen topics. No topic left means a full opt-out (erasure).

    Returns False when the subscriber was erased. A topic newly ticked here is a
    consent given through a link only the address owner has: like a signup it needs
    the ticked box beside the consent text the page showed in `language`
    (`consent_text_id`, checked as in `request_signup`), records that text and the
    lists' wording, and starts the re-consent clock. Raises ComplianceError (nothing
    changed) when the box was not ticked or the page showed another text.
    """
    chosen = {t.id: t for t in topics_by_slug(topic_slugs)}
    if not chosen:
        erase(subscriber, "unsubscribed", Channel.ALL, evidence)
        return False
    now = utcnow()
    dropped = [s for s in subscriber.subscriptions if s.topic_id not in chosen]
    added = [
        t for tid, t in chosen.items() if tid not in {s.topic_id for s in subscriber.subscriptions}
    ]
    text = None
    if added:
        compliance.require_explicit_consent(consent_given, [t.slug for t in added])
        text = displayed_consent_text(language or subscriber.locale)
        compliance.require_shown_consent_text(consent_text_id, text)
    for subscription in dropped:
        subscriber.subscriptions.remove(subscription)
    for topic in added:
        subscriber.subscriptions.append(
            Subscription(topic=topic, basis=Basis.CONSENT, confirmed_at=now)
        )
    if dropped:
        record_event(subscriber, "withdraw", evidence, topics=[s.topic.slug for s in dropped])
    if added:
        _record_added_topics(subscriber, added, text, evidence, now)
    db.session.flush()
    return True


def _record_added_topics(subscriber, added: list[Topic], text, evidence: Evidence, now) -> None:
    """The consent given on the preferences page: its event, and the re-consent clock."""
    record_event(
        subscriber,
        "preferences",
        evidence,
        consent_text_id=text.id,
        topics=[t.slug for t in added],
        topic_wording=topic_wording(added),
        basis=Basis.CONSENT,
        detail={"method": "preferences link"},
    )
    db.session.flush()
    start_reconsent_clock(subscriber, {t.slug for t in added}, now)


def unsubscribe_all(token: str, evidence: Evidence) -> OptOutResult:
    """Consolidated opt-out from a signed link: erasure plus an objection on every channel.

    The link of an older message erases the person's current subscriber (a later signup
    or import). When the person is known but nobody is subscribed, the objection on every
    channel is kept on record. Idempotent: a second use is a success that changes nothing.
    Raises InvalidToken for a tampered or garbage token, InertLink for a test link.
    """
    target = link_target(tokens.UNSUBSCRIBE, token)
    if target.subscriber is not None:
        language = target.subscriber.locale
        if target.older:
            evidence = replace(evidence, source=f"{evidence.source} (older message)")
        erase(target.subscriber, "unsubscribed", Channel.ALL, evidence)
        return OptOutResult(OptOut.ERASED, target.older, language)
    if target.address_hash is None:
        return OptOutResult(OptOut.UNKNOWN)
    _keep_objection(target.address_hash, evidence)
    return OptOutResult(OptOut.NOBODY, older=True)


def _keep_objection(digest: str, evidence: Evidence) -> None:
    """Object on every channel not yet on record for this hash (an older message's
    unsubscribe link of a person nobody is subscribed under any more)."""
    existing = set(
        db.session.scalars(select(Suppression.channel).where(Suppression.address_hash == digest))
    )
    missing = [c for c in Channel.ALL if c not in existing]
    if not missing:
        return
    suppress(digest, "unsubscribed", missing)
    db.session.add(
        ConsentEvent(
            subject_hash=digest,
            kind="objection",
            occurred_at=utcnow(),
            source=f"{evidence.source} (older message)"[:200],
            ip=evidence.ip,
            user_agent=(evidence.user_agent or "")[:400] or None,
            detail={"channels": missing},
        )
    )
    db.session.flush()


def erase(subscriber: Subscriber, reason: str, channels, evidence: Evidence) -> str:
    """Opt-out is erasure (SPEC rule 5): the address leaves every table.

    What stays: the keyed hash in the suppression list (so that no import or admin
    re-adds the person), the consent events, re-keyed to that hash, and the public id
    with that hash (so that the links of older messages reach the person if they come
    back: `retire_public_id`). Deliveries keep their status for the campaign's counts,
    without a subscriber (`people.remove_person` does the deleting). Returns the hash.
    """
    record_event(
        subscriber, "erase", evidence, detail={"reason": reason, "channels": list(channels)}
    )
    return people.remove_person(
        subscriber, keep_evidence=True, objection=people.Objection(reason, channels)
    )


# --- access (GDPR Art. 15) ---------------------------------------------------------------


def export_data(subscriber: Subscriber) -> dict:
    """Everything held about one subscriber, as JSON-ready data."""
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "locale": subscriber.locale,
        "status": subscriber.status,
        "source": subscriber.source,
        "created_at": _iso(subscriber.created_at),
        "confirmed_at": _iso(subscriber.confirmed_at),
        "consented_at": _iso(subscriber.consented_at),
        "purchased_at": _iso(subscriber.purchased_at),
        "subscriptions": [_subscription_json(s) for s in subscriber.subscriptions],
        "consent_events": [_event_json(e) for e in _events_of(subscriber)],
        "deliveries": [_delivery_json(d, subscriber.email) for d in _deliveries_of(subscriber)],
        "outbox_messages": [_outbox_json(m) for m in _outbox_of(subscriber)],
        "pending_address_changes": [
            {"new_email": c.new_email, "requested_at": _iso(c.requested_at)}
            for c in address_changes(subscriber)
        ],
    }


def _events_of(subscriber: Subscriber):
    # Linked events too: those from before an address change carry the old address's hash.
    return db.session.scalars(
        select(ConsentEvent)
        .where(
            or_(
                ConsentEvent.subscriber_id == subscriber.id,
                ConsentEvent.subject_hash == address_hash(subscriber.email),
            )
        )
        .order_by(ConsentEvent.id)
    )


def _deliveries_of(subscriber: Subscriber):
    return db.session.scalars(
        select(Delivery).where(Delivery.subscriber_id == subscriber.id).order_by(Delivery.id)
    )


def _outbox_of(subscriber: Subscriber):
    return db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient == subscriber.email)
        .order_by(OutboxMessage.id)
    )


def _subscription_json(subscription: Subscription) -> dict:
    return {
        "topic": subscription.topic.slug,
        "topic_name": subscription.topic.name,
        "basis": subscription.basis,
        "since": _iso(subscription.confirmed_at or subscription.created_at),
        "confirmed": subscription.confirmed_at is not None,
    }


def _delivery_json(delivery: Delivery, address: str) -> dict:
    return {
        "campaign_id": delivery.campaign_id,
        "status": delivery.status,
        "sent_at": _iso(delivery.sent_at),
        "attempts": delivery.attempts,
        "smtp_reply": compliance.redact_address(delivery.last_error, address),
        "delivery_id": delivery.id,
    }


def _outbox_json(message: OutboxMessage) -> dict:
    return {
        "at": _iso(message.created_at),
        "subject": message.subject,
        "message": message.raw.decode("utf-8", "replace"),
    }


def _event_json(event: ConsentEvent) -> dict:
    text = event.consent_text
    return {
        "kind": event.kind,
        "at": _iso(event.occurred_at),
        "topics": event.topics,
        "basis": event.basis,
        "source": event.source,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "consent_text": {
            "locale": text.locale,
            "version": text.version,
            "text": text.text,
            "sha256": text.sha256,
        }
        if text
        else None,
        "topic_wording": event.topic_wording,
        "detail": event.detail,
        "import_evidence": _import_evidence_json(event.import_evidence),
    }


def _import_evidence_json(evidence) -> dict | None:
    """What an imported row proved (docs/IMPORTS.md), as kept with its event."""
    if evidence is None:
        return None
    return {
        "basis": evidence.basis,
        "given_at": _iso(evidence.given_at),
        "consent_text": evidence.consent_text,
        "consent_text_ref": evidence.consent_text_ref,
        "consent_where": evidence.consent_where,
        "consent_how": evidence.consent_how,
        "consent_system": evidence.consent_system,
        "optout_offered": evidence.optout_offered,
        "declared_by": evidence.declared_by,
    }


def _iso(value) -> str | None:
    return value.isoformat() if value else None


# --- rectification (GDPR Art. 16) --------------------------------------------------------


class AddressTaken(Exception):
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
        record_event(subscriber, "rectify", evidence, detail={"fields": changed})
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
    address change was asked for. Raises InvalidAddress or ValueError before anything
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
    way. Returns False when the address is the current one. Raises InvalidAddress.
    """
    address = normalise(new_email)
    if address == subscriber.email:
        return False
    db.session.execute(delete(AddressChange).where(AddressChange.subscriber_id == subscriber.id))
    change = AddressChange(subscriber_id=subscriber.id, new_email=address, requested_at=utcnow())
    db.session.add(change)
    db.session.flush()
    record_event(subscriber, "address-change-request", evidence)  # the address is not kept
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
    per_day = int(current_app.config["CONFIRM_MAILS_PER_ADDRESS"])
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
            int(current_app.config["CONFIRM_MAX_AGE_HOURS"]),
        )


def _change_from_token(purpose: str, token: str, max_age_seconds: int, size: int):
    payload = tokens.verify(purpose, token, max_age_seconds)
    if not (
        isinstance(payload, list)
        and len(payload) == size
        and isinstance(payload[0], str)
        and isinstance(payload[1], int)
    ):
        raise tokens.InvalidToken("malformed payload")
    subscriber = subscriber_by_public_id(payload[0])
    change = db.session.get(AddressChange, payload[1])
    if subscriber is None or change is None or change.subscriber_id != subscriber.id:
        raise NotFound()
    return subscriber, change, payload


def change_to_approve(token: str) -> tuple[Subscriber, AddressChange]:
    """Read the current address's approval link without changing anything (GET).

    Raises InvalidToken, ExpiredToken or NotFound (replaced, done or erased)."""
    max_age = compliance.ADDRESS_APPROVAL_MAX_AGE_HOURS * 3600
    subscriber, change, _payload = _change_from_token(tokens.ADDRESS_APPROVE, token, max_age, 2)
    return subscriber, change


def approve_address_change(token: str, evidence: Evidence) -> tuple[Subscriber, AddressChange]:
    """The current address approved the change: the new address gets its confirmation
    link now, and its confirmation window starts now (`requested_at`). Nothing moves yet.
    Raises InvalidToken, ExpiredToken or NotFound."""
    subscriber, change = change_to_approve(token)
    change.requested_at = utcnow()
    record_event(subscriber, "address-change-approved", evidence)  # the address is not kept
    _mail_new_address(subscriber, change, approved_by="current-address")
    db.session.flush()
    return subscriber, change


def pending_address_change(token: str) -> tuple[Subscriber, AddressChange]:
    """Read an address-confirmation link without changing anything (GET).

    Only a link issued after the change was approved (by the current address, or asked
    by the admin) is accepted. Raises InvalidToken, ExpiredToken or NotFound (already
    used, replaced or erased)."""
    subscriber, change, _approved_by = _approved_change(token)
    return subscriber, change


def _approved_change(token: str) -> tuple[Subscriber, AddressChange, str]:
    subscriber, change, payload = _change_from_token(tokens.ADDRESS, token, _confirm_max_age(), 3)
    if payload[2] not in compliance.ADDRESS_CHANGE_APPROVED_BY:
        raise tokens.InvalidToken("not approved")  # (links of before the approval step)
    return subscriber, change, payload[2]


def confirm_address_change(token: str, evidence: Evidence) -> Subscriber:
    """The new address confirmed: the subscription moves to it, the old one is gone.

    The old address leaves every table (the stored SMTP replies, the outbox copies of
    mails to it) and the SQLite file's bytes; the consent history stays with the
    subscription, and an `address-change` event under the new address's hash points to
    the old hash (so that a later access request finds the whole history). Confirming
    is a new consent of the new address's holder: it lifts that address's email
    suppression, as a signup does. Raises AddressTaken when the new address already has
    its own subscription (nothing changes).
    """
    subscriber, change, approved_by = _approved_change(token)
    new_address, old_address = change.new_email, subscriber.email
    if find_subscriber(new_address) is not None:
        raise AddressTaken()
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
        "address-change",
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
