"""Preferences and opt-out: what a link acts on, the preferences page, the
unsubscribe-from-all link, and erasure (every opt-out)."""

from __future__ import annotations

from dataclasses import replace

from .. import compliance, events, i18n, messages, people, tokens
from ..clock import utcnow
from ..extensions import db
from ..models import (
    Basis,
    Channel,
    ConsentEvent,
    ConsentKind,
    Subscriber,
    Subscription,
    SuppressionReason,
    Topic,
)
from ..people import suppress
from .core import (
    Evidence,
    InertLinkError,
    NotFoundError,
    OptOut,
    OptOutResult,
    displayed_consent_text,
    record_consent,
    record_event,
    topics_by_slug,
)
from .signup import start_reconsent_clock

# --- preferences and opt-out -------------------------------------------------------------


def link_target(purpose: str, token: str) -> compliance.LinkPerson:
    """Whom an unsubscribe or preferences link acts on now, without changing anything.

    A link of an older message reaches the person's current subscriber (see
    compliance.opt_out_link_reaches_current_subscription). Raises InvalidTokenError (tampered,
    garbage, another purpose) or InertLinkError (a test send's or a preview's link).
    """
    try:
        public_id = tokens.verify(purpose, token)
    except tokens.InvalidTokenError:
        language = _test_link_language(purpose, token)
        if language is None:
            raise
        raise InertLinkError(language) from None
    if not isinstance(public_id, str):
        raise tokens.InvalidTokenError("malformed payload")
    if public_id == messages.SAMPLE_PUBLIC_ID:  # a preview's links
        raise InertLinkError(None)
    return compliance.opt_out_link_reaches_current_subscription(public_id)


def _test_link_language(purpose: str, token: str) -> str | None:
    """The language of a test send's link for this purpose, None when it is none."""
    try:
        payload = tokens.verify(tokens.TEST, token)
    except tokens.InvalidTokenError:
        return None
    if not (isinstance(payload, list) and len(payload) == 2 and payload[0] == purpose):
        return None
    return i18n.language_of(payload[1])


def subscriber_of(target: compliance.LinkPerson) -> Subscriber:
    """The subscriber a link acts on; NotFoundError when nobody is subscribed under it."""
    if target.subscriber is None:
        raise NotFoundError(known=target.address_hash is not None)
    return target.subscriber


def subscriber_from_link(purpose: str, token: str) -> Subscriber:
    """The subscriber behind an unsubscribe or preferences link, as the person is now.

    Raises InvalidTokenError (tampered, garbage), InertLinkError (a test link) or
    NotFoundError (nobody is subscribed under it)."""
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
        erase(subscriber, SuppressionReason.UNSUBSCRIBED, Channel.ALL, evidence)
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
        record_event(
            subscriber, ConsentKind.WITHDRAW, evidence, topics=[s.topic.slug for s in dropped]
        )
    if added:
        _record_added_topics(subscriber, added, text, evidence, now)
    db.session.flush()
    return True


def _record_added_topics(subscriber, added: list[Topic], text, evidence: Evidence, now) -> None:
    """The consent given on the preferences page: its event, and the re-consent clock."""
    record_consent(
        subscriber,
        ConsentKind.PREFERENCES,
        evidence,
        text,
        added,
        detail={"method": "preferences link"},
    )
    db.session.flush()
    start_reconsent_clock(subscriber, {t.slug for t in added}, now)


def unsubscribe_all(token: str, evidence: Evidence) -> OptOutResult:
    """Consolidated opt-out from a signed link: erasure plus an objection on every channel.

    The link of an older message erases the person's current subscriber (a later signup
    or import). When the person is known but nobody is subscribed, the objection on every
    channel is kept on record. Idempotent: a second use is a success that changes nothing.
    Raises InvalidTokenError for a tampered or garbage token, InertLinkError for a test link.
    """
    target = link_target(tokens.UNSUBSCRIBE, token)
    if target.subscriber is not None:
        language = target.subscriber.locale
        if target.older:
            evidence = replace(evidence, source=f"{evidence.source} (older message)")
        erase(target.subscriber, SuppressionReason.UNSUBSCRIBED, Channel.ALL, evidence)
        return OptOutResult(OptOut.ERASED, target.older, language)
    if target.address_hash is None:
        return OptOutResult(OptOut.UNKNOWN)
    _keep_objection(target.address_hash, evidence)
    return OptOutResult(OptOut.NOBODY, older=True)


def _keep_objection(digest: str, evidence: Evidence) -> None:
    """Object on every channel not yet on record for this hash (an older message's
    unsubscribe link of a person nobody is subscribed under any more)."""
    existing = compliance.objected_channels(digest)
    missing = [c for c in Channel.ALL if c not in existing]
    if not missing:
        return
    suppress(digest, SuppressionReason.UNSUBSCRIBED, missing)
    db.session.add(
        ConsentEvent(
            subject_hash=digest,
            kind=ConsentKind.OBJECTION,
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
        subscriber,
        ConsentKind.ERASE,
        evidence,
        detail={"reason": reason, "channels": list(channels)},
    )
    events.emit(events.left_kind(reason), events.departure(subscriber, reason))
    return people.remove_person(
        subscriber, keep_evidence=True, objection=people.Objection(reason, channels)
    )
