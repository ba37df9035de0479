"""Data subjects' rights: access (GDPR Art. 15) and erasure (Art. 17), each request logged.

The log (`RightsRequest`) keeps the channel and the times, keyed by the address hash,
never the address itself. Channels: "mail" (the preferences page's "download my data":
a link mailed to the address, `completed_at` set when it is used), "admin", "cli", and
"api:<token name>" for objections recorded through the API.

A former subscriber's access request is answered from what is still kept under the
keyed hash of the address (`export_former`): consent events, suppression rows, rights
requests, the markers of a lapsed basis and the retired public ids of older links.
Delivery records and bounce events of an erased person hold neither the address nor its
hash: they cannot be tied to anyone any more.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import select

from . import compliance, i18n, links, notices, subscriptions, tokens
from .addresses import address_hash, normalise
from .clock import utcnow
from .extensions import db
from .models import (
    BounceEvent,
    Campaign,
    Channel,
    ConsentEvent,
    ConsentKind,
    Delivery,
    LapsedBasis,
    RequestKind,
    RetiredPublicId,
    RightsRequest,
    Subscriber,
    Subscription,
    Suppression,
    SuppressionReason,
)


def request_export(subscriber: Subscriber, channel: str) -> dict:
    """Everything held about the subscriber; logs the request (channel: cli, admin, web)."""
    now = utcnow()
    data = export_subject(subscriber)
    db.session.add(
        RightsRequest(
            kind=RequestKind.EXPORT,
            channel=channel,
            subject_hash=address_hash(subscriber.email),
            requested_at=now,
            completed_at=now,
        )
    )
    db.session.flush()
    return data


def export_subject(subscriber: Subscriber) -> dict:
    """The Art. 15 export: profile, subscriptions with their basis in words, every consent
    event with its exact text, deliveries with their subject, objections, past requests."""
    data = subscriptions.export_data(subscriber)
    digest = address_hash(subscriber.email)
    held = {s.topic.slug: s for s in subscriber.subscriptions}
    for item in data["subscriptions"]:
        item["why"] = why_you_receive(subscriber, held[item["topic"]])
    subjects = _campaign_subjects(subscriber)
    for item in data["deliveries"]:
        item["subject"] = subjects.get(item["campaign_id"])
    data["bounce_events"] = _bounce_events([item["delivery_id"] for item in data["deliveries"]])
    data.update(_held_under_hash(digest))
    data["held_under_hash"]["note"] = gettext(
        "Besides what is listed above, we keep under this code the consent events, "
        "suppression entries, rights requests, random ids of older links and markers of "
        "a lapsed customer basis listed here."
    )
    _require_complete(data, former=False)
    return data


def _objections(digest: str) -> list[dict]:
    return [
        {"channel": s.channel, "reason": s.reason, "since": s.created_at.isoformat()}
        for s in db.session.scalars(
            select(Suppression).where(Suppression.address_hash == digest).order_by(Suppression.id)
        )
    ]


def _rights_requests(digest: str) -> list[dict]:
    return [
        {
            "kind": r.kind,
            "channel": r.channel,
            "requested_at": r.requested_at.isoformat(),
            "completed_at": r.completed_at.isoformat() if r.completed_at else None,
        }
        for r in db.session.scalars(
            select(RightsRequest)
            .where(RightsRequest.subject_hash == digest)
            .order_by(RightsRequest.id)
        )
    ]


def _bounce_events(delivery_ids: list[int]) -> list[dict]:
    if not delivery_ids:
        return []
    rows = db.session.scalars(
        select(BounceEvent)
        .where(BounceEvent.delivery_id.in_(delivery_ids))
        .order_by(BounceEvent.id)
    )
    return [
        {
            "delivery_id": b.delivery_id,
            "campaign_id": b.campaign_id,
            "kind": b.kind,
            "status": b.status,
            "source": b.source,
            "at": b.occurred_at.isoformat(),
        }
        for b in rows
    ]


def _held_under_hash(digest: str) -> dict:
    """The objections, rights requests, the markers of a lapsed basis, the retired public
    ids of older links (also those of the addresses this one replaced) and the hash
    itself: kept after an erasure too."""
    hashes = _linked_hashes(digest)
    return {
        "objections": _objections(digest),
        "rights_requests": _rights_requests(digest),
        "lapsed_bases": _lapsed_bases(hashes),
        "retired_public_ids": _retired_public_ids(hashes),
        "held_under_hash": {"address_hash": digest},
    }


def _lapsed_bases(hashes: list[str]) -> list[dict]:
    return [
        {
            "basis": marker.basis,
            "evidence_date": marker.evidence_date.isoformat() if marker.evidence_date else None,
            "lapsed_at": marker.lapsed_at.isoformat(),
        }
        for marker in db.session.scalars(
            select(LapsedBasis).where(LapsedBasis.address_hash.in_(hashes)).order_by(LapsedBasis.id)
        )
    ]


def _retired_public_ids(hashes: list[str]) -> list[dict]:
    return [
        {"public_id": row.public_id, "retired_at": row.retired_at.isoformat()}
        for row in db.session.scalars(
            select(RetiredPublicId)
            .where(RetiredPublicId.address_hash.in_(hashes))
            .order_by(RetiredPublicId.retired_at, RetiredPublicId.public_id)
        )
    ]


def _require_complete(data: dict, former: bool) -> None:
    missing = compliance.access_export_complete(data, former=former)
    if missing:  # a programming error: never answer an access request with a part of it
        raise RuntimeError(f"access export lacks {missing}")


def _linked_hashes(digest: str) -> list[str]:
    """The hash and the hashes of the addresses this one replaced (address changes)."""
    found, queue = [digest], [digest]
    while queue:
        details = db.session.scalars(
            select(ConsentEvent.detail).where(
                ConsentEvent.subject_hash == queue.pop(),
                ConsentEvent.kind == ConsentKind.ADDRESS_CHANGE,
            )
        )
        for detail in details:
            previous = (detail or {}).get("previous_subject_hash")
            if isinstance(previous, str) and previous not in found:
                found.append(previous)
                queue.append(previous)
    return found


def export_former(email: str) -> dict:
    """What is still held about an address that has no subscriber (any more): the
    consent events, suppression and objection rows and rights requests kept under its
    keyed hash, with a note that nothing else is held. Raises InvalidAddressError."""
    address = normalise(email)
    digest = address_hash(address)
    events = db.session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.subject_hash.in_(_linked_hashes(digest)))
        .order_by(ConsentEvent.id)
    )
    data = {"email": address, "subscriber": None}
    data["consent_events"] = [subscriptions.event_json(e) for e in events]
    data.update(_held_under_hash(digest))
    anything = any(
        data[section]
        for section in (
            "consent_events",
            "objections",
            "rights_requests",
            "lapsed_bases",
            "retired_public_ids",
        )
    )
    data["held_under_hash"]["note"] = (
        gettext(
            "This address has no subscription with us. We hold no address, name or "
            "subscription for it: only what is listed here, under a one-way code of the "
            "address (the consent evidence, the suppression list, the rights requests, "
            "the random ids of the links in older messages and the markers of a lapsed "
            "customer basis). Records of messages sent no longer name this address."
        )
        if anything
        else gettext("We hold nothing about this address.")
    )
    _require_complete(data, former=True)
    return data


def request_former_export(email: str, channel: str) -> dict:
    """`export_former`, with the request logged under the hash (cli, admin)."""
    data = export_former(email)
    now = utcnow()
    db.session.add(
        RightsRequest(
            kind=RequestKind.EXPORT,
            channel=channel,
            subject_hash=data["held_under_hash"]["address_hash"],
            requested_at=now,
            completed_at=now,
        )
    )
    db.session.flush()
    return data


def request_access(email: str, channel: str) -> dict:
    """An access request for an address, subscribed or not (cli, admin)."""
    subscriber = subscriptions.find_subscriber(email)
    if subscriber is not None:
        return request_export(subscriber, channel)
    return request_former_export(email, channel)


# --- "download my data" from the preferences page: a link mailed to the address ----------


def mail_export_link(subscriber: Subscriber) -> bool:
    """Mail a short-lived download link to the subscriber's address (logged, channel
    "mail"); False when today's cap is reached (`compliance.access_link_mail_allowed`).

    The preferences link may have been forwarded: the data (IP addresses included) go
    only to whoever can read the address's mail.
    """
    digest, now = address_hash(subscriber.email), utcnow()
    per_day = current_app.config["CONFIRM_MAILS_PER_ADDRESS"]
    if not compliance.access_link_mail_allowed(digest, now, per_day):
        return False
    request = RightsRequest(
        kind=RequestKind.EXPORT, channel="mail", subject_hash=digest, requested_at=now
    )
    db.session.add(request)
    db.session.flush()
    token = tokens.sign(tokens.EXPORT, [subscriber.public_id, request.id])
    notices.send_export_link(
        subscriber.email,
        subscriber.locale,
        links.public_url("public.export_download", token=token),
        compliance.EXPORT_LINK_MAX_AGE_HOURS * 60,
    )
    return True


def export_from_link(token: str, download: bool) -> tuple[Subscriber, dict | None]:
    """The subscriber behind a mailed download link, and with `download` their export
    (the request is then marked completed). The link holds only for the address it was
    mailed to. Raises InvalidTokenError, ExpiredTokenError or subscriptions.NotFoundError."""
    payload = tokens.verify(tokens.EXPORT, token, compliance.EXPORT_LINK_MAX_AGE_HOURS * 3600)
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], int)):
        raise tokens.InvalidTokenError("malformed payload")
    subscriber = subscriptions.subscriber_by_public_id(payload[0])
    request = db.session.get(RightsRequest, payload[1])
    if (
        subscriber is None
        or request is None
        or request.subject_hash != address_hash(subscriber.email)  # the address changed
    ):
        raise subscriptions.NotFoundError()
    if not download:
        return subscriber, None
    data = export_subject(subscriber)
    request.completed_at = request.completed_at or utcnow()
    db.session.flush()
    return subscriber, data


def _campaign_subjects(subscriber: Subscriber) -> dict[int, str]:
    query = (
        select(Campaign.id, Campaign.subject)
        .join(Delivery, Delivery.campaign_id == Campaign.id)
        .where(Delivery.subscriber_id == subscriber.id)
    )
    return dict(db.session.execute(query).all())


def why_you_receive(subscriber: Subscriber, subscription: Subscription) -> str:
    """The real basis of one subscription, in words, in the person's language: the
    footer's sentence (`compliance.reason_for_receiving`) with the same date
    (`compliance.basis_since`), written as a date in the export."""
    topic = subscription.topic.name
    with force_locale(i18n.language_of(subscriber.locale)):
        if subscription.confirmed_at is None:
            return gettext(
                "%(topic)s: not sent; waiting for you to confirm your subscription.",
                topic=topic,
            )
        since = compliance.basis_since(
            subscription.basis, subscription.confirmed_at, subscriber.purchased_at
        )
        day = f"{since:%Y-%m-%d}" if since else gettext("an unknown date")
        organization = current_app.config["ORGANIZATION_NAME"]
        return compliance.reason_for_receiving(subscription.basis, organization, day, topic)


def request_erasure(subscriber: Subscriber, channel: str) -> None:
    """Erase exactly as an opt-out does (objection on every channel); logs the request."""
    now = utcnow()
    digest = subscriptions.erase(
        subscriber,
        SuppressionReason.ERASED,
        Channel.ALL,
        subscriptions.Evidence(source=f"erasure request ({channel})"),
    )
    db.session.add(
        RightsRequest(
            kind=RequestKind.ERASURE,
            channel=channel,
            subject_hash=digest,
            requested_at=now,
            completed_at=now,
        )
    )
    db.session.flush()
