"""Subscribers: signup through double opt-in (as the form), and reading them."""

from __future__ import annotations

import ipaddress

from flask import g, jsonify
from sqlalchemy import select

from ... import api_tokens, audit, compliance, i18n, subscriptions
from ...addresses import InvalidAddressError, normalise
from ...extensions import db
from ...models import Subscriber, SubscriberStatus, Subscription, Topic
from ..bearer import require_scope
from .blueprint import bp
from .helpers import BodyError, error, iso, json_body, paged, query_args

# --- subscribers: signup through double opt-in, and reading them ----------------------------

SIGNUP_FIELDS = {
    "email": (str, "a string (the email address)"),
    "name": (str, "a string"),
    "topics": ((list, str), "a non-empty list of topic slugs (strings)"),
    "locale": (str, f"one of {', '.join(i18n.LANGUAGES)}"),
    "consent_text_id": (int, "an integer: the id of the consent text shown to the person"),
    "ip": (str, "a string: the person's IP address"),
    "user_agent": (str, "a string: the person's browser (User-Agent)"),
    "source": (str, "a string: where the person signed up (e.g. 'checkout page')"),
}
SIGNUP_REQUIRED = ("email", "topics", "consent_text_id", "source")
SIGNUP_EXAMPLE = (
    '{"email": "...", "topics": ["newsletter"], "consent_text_id": 1, "source": "checkout"}'
)


def _signup_language(body: dict) -> str:
    if "locale" not in body:
        return i18n.DEFAULT
    language = i18n.normalize_locale(body["locale"])
    if language is None:
        raise BodyError(
            f"'locale' must be one of {', '.join(i18n.LANGUAGES)}. Nothing was recorded."
        )
    return language


def _signup_evidence(body: dict) -> subscriptions.Evidence:
    """The consent evidence the caller passes on: where, from which IP and browser."""
    ip = body.get("ip")
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            raise BodyError("'ip' must be an IP address. Nothing was recorded.") from None
    source = " ".join(body["source"].split())
    if not source:
        raise BodyError("'source' must say where the person signed up. Nothing was recorded.")
    return subscriptions.Evidence(
        source=f"api:{g.api_token.name}: {source}", ip=ip, user_agent=body.get("user_agent")
    )


def _signup_topics(body: dict) -> list[str]:
    slugs = body["topics"]
    if not slugs:
        raise BodyError("'topics' must name at least one topic. Nothing was recorded.")
    known = {t.slug for t in subscriptions.topics_by_slug(slugs)}
    unknown = [slug for slug in slugs if slug not in known]
    if unknown:
        names = ", ".join(repr(slug) for slug in unknown)
        raise BodyError(f"Unknown topic {names} in 'topics' (GET /api/v1/topics lists them).")
    return slugs


def _consent_text_error(claimed, language: str) -> str:
    shown = subscriptions.displayed_consent_text(language)
    current = f"the current one is {shown.id}" if shown else "there is none"
    return (
        f"'consent_text_id' {claimed} is not the current consent text for locale "
        f"{language!r} ({current}; GET /api/v1/topics shows it). Nothing was recorded."
    )


@bp.post("/subscribers")
@require_scope(api_tokens.WRITE_SUBSCRIBERS)
def create_subscriber():
    """A pending signup and its confirmation mail, exactly as the signup form (202)."""
    try:
        body = json_body(SIGNUP_FIELDS, SIGNUP_EXAMPLE, required=SIGNUP_REQUIRED)
        language = _signup_language(body)
        subscriptions.request_signup(
            body["email"],
            _signup_topics(body),
            True,  # the caller states that the person ticked the box beside this text
            body["consent_text_id"],
            _signup_evidence(body),
            name=(body.get("name") or "").strip()[:200] or None,
            locale=language,
        )
    except compliance.ConsentTextChangedError:
        db.session.rollback()
        return error(400, _consent_text_error(body["consent_text_id"], language))
    except (BodyError, InvalidAddressError, compliance.ComplianceError) as exc:
        db.session.rollback()
        return error(400, str(exc))
    db.session.commit()
    return jsonify(
        status="accepted",
        detail="A confirmation mail goes to the address (within its daily limit); the "
        "person is subscribed once they use its link.",
    ), 202


def subscriber_json(subscriber: Subscriber) -> dict:
    """What the API shows of a subscriber: no consent evidence beyond status and dates."""
    return {
        "id": subscriber.public_id,
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "locale": subscriber.locale,
        "topics": [
            {
                "slug": s.topic.slug,
                "confirmed": s.confirmed_at is not None,
                "since": iso(s.confirmed_at or s.created_at),
            }
            for s in sorted(subscriber.subscriptions, key=lambda s: s.topic_id)
        ],
        "created_at": iso(subscriber.created_at),
        "confirmed_at": iso(subscriber.confirmed_at),
    }


def _subscriber_query(args: dict):
    query = select(Subscriber).order_by(Subscriber.id)
    if "email" in args:
        query = query.where(Subscriber.email == normalise(args["email"]))
    if "status" in args:
        if args["status"] not in SubscriberStatus.ALL:
            raise BodyError(f"'status' must be one of {', '.join(SubscriberStatus.ALL)}.")
        query = query.where(Subscriber.status == args["status"])
    if "topic" in args:
        topic = db.session.scalar(select(Topic).where(Topic.slug == args["topic"]))
        if topic is None:
            raise BodyError(f"Unknown topic {args['topic']!r} in 'topic'.")
        query = query.where(
            Subscriber.id.in_(select(Subscription.subscriber_id).where(Subscription.topic == topic))
        )
    return query


@bp.get("/subscribers")
@require_scope(api_tokens.READ_SUBSCRIBERS)
def list_subscribers():
    """Subscribers, paged; `email=` finds one (any spelling), `status=`, `topic=` filter."""
    try:
        args = query_args(("email", "status", "topic", "page", "per_page"))
        listing = paged(_subscriber_query(args), args, subscriber_json)
    except (BodyError, InvalidAddressError) as exc:
        db.session.rollback()
        return error(400, str(exc))
    filters = {k: v for k, v in args.items() if k in ("status", "topic")}
    audit.record(
        f"api:{g.api_token.name}",
        audit.SUBSCRIBER_SEARCH,
        "api",
        by_address="email" in args,
        results=len(listing["items"]),
        **filters,
    )
    db.session.commit()
    return jsonify(listing), 200


@bp.get("/subscribers/<public_id>")
@require_scope(api_tokens.READ_SUBSCRIBERS)
def get_subscriber(public_id: str):
    """One subscriber by public id (the id in the webhook events); 404 once they left."""
    subscriber = subscriptions.subscriber_by_public_id(public_id)
    if subscriber is None:
        db.session.commit()  # the token's last use
        return error(404, "No subscriber with this id (never existed, or left the list).")
    audit.record(f"api:{g.api_token.name}", audit.SUBSCRIBER_VIEW, subscriber.public_id)
    db.session.commit()
    return jsonify(subscriber_json(subscriber)), 200
