"""Token-authenticated JSON API, CSRF-exempt: the objection register, subscribers (signup
through double opt-in, reading them), topics and campaigns (docs/API.md).

Every answer is JSON, errors included: 400 with a message saying what to fix (a body
that is not a JSON object, an unknown field, a value of the wrong type: nothing is
recorded), 401 for a missing, unknown or revoked token, 403 for a token without the
scope, 405 (with `Allow`) for another method, 429 past the rate limit
(NEWSLETTER_API_RATE_LIMIT). Documented in docs/openapi.yaml.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request, url_for
from sqlalchemy import func, select

from .. import api_tokens, audit, campaigns, compliance, i18n, objections, subscriptions
from ..addresses import InvalidAddress, normalise
from ..extensions import db, limiter
from ..models import Campaign, CampaignStatus, Subscriber, SubscriberStatus, Subscription, Topic

bp = Blueprint("api", __name__)


def _api_rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


limiter.limit(_api_rate_limit)(bp)


def _error(status: int, message: str, **headers):
    return jsonify(error=message), status, headers


def require_scope(scope: str) -> Callable:
    """Answer 401 without a live bearer token, 403 without `scope`; else run the view."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, secret = header.partition(" ")
            token = api_tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
            if token is None:
                challenge = {"WWW-Authenticate": 'Bearer realm="objections"'}
                return _error(
                    401, "A valid API token is required (Authorization: Bearer ...).", **challenge
                )
            if not api_tokens.has_scope(token, scope):
                return _error(403, f"This token lacks the scope {scope!r}.")
            g.api_token = token
            return view(*args, **kwargs)

        return wrapper

    return decorate


class BodyError(ValueError):
    """The request body does not match the endpoint's fields; the message names the field."""


# The fields of each endpoint's JSON body: name -> (JSON type, what it must be). The same
# as docs/openapi.yaml (additionalProperties: false); values are checked further by the
# domain function (a known channel, a valid address).
OBJECTION_FIELDS = {
    "email": (str, "a string (the email address)"),
    "channels": (list, "a non-empty list among email, sms, phone, post"),
}
CHECK_FIELDS = {
    "email": (str, "a string (the email address)"),
    "channel": (str, "one of email, sms, phone, post"),
}


def _of_type(value, kind) -> bool:
    """JSON typing: a boolean is no integer; `(list, str)` is a list of strings."""
    if isinstance(kind, tuple):
        container, item = kind
        return isinstance(value, container) and all(_of_type(v, item) for v in value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _has_nul(value) -> bool:
    """A NUL character anywhere in the value (PostgreSQL text cannot hold one)."""
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def json_body(fields: dict[str, tuple], example: str, required=(), empty_ok=False) -> dict:
    """The request's JSON object, holding only `fields`, each of its type; else BodyError.

    Absent fields are left to the domain function (which says what is missing), unless
    named in `required`; `null` counts as the wrong type, as in the OpenAPI document.
    `empty_ok`: no body at all reads as `{}`.
    """
    if empty_ok and not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BodyError(f"Send a JSON object: {example}.")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise BodyError(
            f"Unknown field {names}: this endpoint takes only {', '.join(fields)}. "
            "Nothing was recorded."
        )
    for name, (kind, expected) in fields.items():
        if name in body and not _of_type(body[name], kind):
            raise BodyError(f"'{name}' must be {expected}. Nothing was recorded.")
    for name, value in body.items():
        if _has_nul(value):
            raise BodyError(f"'{name}' contains a NUL character (\\0). Nothing was recorded.")
    missing = [name for name in required if name not in body]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise BodyError(f"Missing field {names}: it is required. Nothing was recorded.")
    return body


@bp.post("/objections")
@require_scope(api_tokens.WRITE_OBJECTIONS)
def record_objection():
    """Record an objection to marketing (all channels unless `channels` names some)."""
    try:
        body = json_body(OBJECTION_FIELDS, '{"email": "...", "channels": ["email", ...]}')
        recorded = objections.record_objection(
            body.get("email"), body.get("channels"), via=f"api:{g.api_token.name}"
        )
    except (BodyError, InvalidAddress, objections.InvalidObjection) as exc:
        db.session.rollback()
        return _error(400, str(exc))
    db.session.commit()
    return jsonify(
        channels=recorded.channels,
        newly_recorded=recorded.newly_recorded,
        recorded_at=recorded.recorded_at.isoformat(),
    ), 201


@bp.post("/objections/check")
@require_scope(api_tokens.READ_OBJECTIONS)
def check_objection():
    """May this person be contacted on this channel (no objection on record)?"""
    try:
        body = json_body(CHECK_FIELDS, '{"email": "...", "channel": "sms"}')
        allowed = objections.may_contact(body.get("email"), body.get("channel"))
    except (BodyError, InvalidAddress, objections.InvalidObjection) as exc:
        db.session.rollback()
        return _error(400, str(exc))
    db.session.commit()  # the token's last use
    return jsonify(may_contact=allowed), 200


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
MAX_PER_PAGE = 200


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
    except compliance.ConsentTextChanged:
        db.session.rollback()
        return _error(400, _consent_text_error(body["consent_text_id"], language))
    except (BodyError, InvalidAddress, compliance.ComplianceError) as exc:
        db.session.rollback()
        return _error(400, str(exc))
    db.session.commit()
    return jsonify(
        status="accepted",
        detail="A confirmation mail goes to the address (within its daily limit); the "
        "person is subscribed once they use its link.",
    ), 202


def _iso(value) -> str | None:
    return value.isoformat() if value else None


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
                "since": _iso(s.confirmed_at or s.created_at),
            }
            for s in sorted(subscriber.subscriptions, key=lambda s: s.topic_id)
        ],
        "created_at": _iso(subscriber.created_at),
        "confirmed_at": _iso(subscriber.confirmed_at),
    }


def query_args(allowed: tuple[str, ...]) -> dict[str, str]:
    """The query string, holding only `allowed` names; else BodyError naming the other."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise BodyError(f"Unknown parameter {names}: this endpoint takes {', '.join(allowed)}.")
    return {name: request.args[name] for name in allowed if name in request.args}


def _page_numbers(args: dict) -> tuple[int, int]:
    try:
        page = int(args.get("page", 1))
        per_page = int(args.get("per_page", 50))
    except ValueError:
        raise BodyError("'page' and 'per_page' must be whole numbers.") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise BodyError(f"'page' must be 1 or more and 'per_page' between 1 and {MAX_PER_PAGE}.")
    return page, per_page


def _paged(query, args: dict, to_json) -> dict:
    page, per_page = _page_numbers(args)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.offset((page - 1) * per_page).limit(per_page))
    return {
        "items": [to_json(row) for row in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": max(1, -(-total // per_page)),
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
        listing = _paged(_subscriber_query(args), args, subscriber_json)
    except (BodyError, InvalidAddress) as exc:
        db.session.rollback()
        return _error(400, str(exc))
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
        return _error(404, "No subscriber with this id (never existed, or left the list).")
    audit.record(f"api:{g.api_token.name}", audit.SUBSCRIBER_VIEW, subscriber.public_id)
    db.session.commit()
    return jsonify(subscriber_json(subscriber)), 200


# --- topics -------------------------------------------------------------------------------


def _topic_json(topic: Topic) -> dict:
    return {
        "slug": topic.slug,
        "name": topic.name,
        "description": topic.description or "",
        "own_similar_products": bool(topic.own_similar_products),
    }


@bp.get("/topics")
@require_scope(api_tokens.READ_TOPICS)
def list_topics():
    """The topics (lists) and the current consent text per language (for a signup)."""
    try:
        query_args(())
    except BodyError as exc:
        return _error(400, str(exc))
    texts = {}
    for language in i18n.LANGUAGES:
        text = subscriptions.displayed_consent_text(language)
        if text is not None:
            texts[language] = {"id": text.id, "locale": text.locale, "version": text.version}
    db.session.commit()
    return jsonify(
        topics=[_topic_json(t) for t in subscriptions.public_topics()], consent_texts=texts
    ), 200


# --- campaigns ----------------------------------------------------------------------------

CAMPAIGN_FIELDS = {
    "subject": (str, "a string"),
    "body": (str, "a string: the message in Markdown"),
    "topic": (str, "a string: the slug of the list it goes to"),
    "preheader": (str, "a string"),
}
CAMPAIGN_EXAMPLE = '{"subject": "...", "body": "Markdown ...", "topic": "newsletter"}'


def _campaign_or_404(campaign_id: int):
    found = db.session.get(Campaign, campaign_id)
    if found is None:
        db.session.commit()
        return None, _error(404, f"No campaign {campaign_id}.")
    return found, None


@bp.post("/campaigns")
@require_scope(api_tokens.WRITE_CAMPAIGNS)
def create_campaign():
    """A new draft campaign (201); send it with POST /campaigns/<id>/send."""
    try:
        body = json_body(CAMPAIGN_FIELDS, CAMPAIGN_EXAMPLE, required=("subject", "body", "topic"))
        topic = db.session.scalar(select(Topic).where(Topic.slug == body["topic"]))
        if topic is None:
            raise BodyError(f"Unknown topic {body['topic']!r} in 'topic'. Nothing was recorded.")
        created = campaigns.create_campaign(
            body["subject"],
            body["body"],
            topic,
            body.get("preheader", ""),
            created_by=f"api:{g.api_token.name}",
        )
    except (BodyError, campaigns.CampaignError) as exc:
        db.session.rollback()
        return _error(400, str(exc))
    db.session.commit()
    location = url_for("api.get_campaign", campaign_id=created.id)
    return jsonify(campaigns.campaign_status(created)), 201, {"Location": location}


@bp.post("/campaigns/<int:campaign_id>/send")
@require_scope(api_tokens.WRITE_CAMPAIGNS)
def send_campaign(campaign_id: int):
    """Fix the recipients and queue the messages for the workers (202)."""
    try:
        json_body({}, "{} or no body", empty_ok=True)
    except BodyError as exc:
        return _error(400, str(exc))
    found, missing = _campaign_or_404(campaign_id)
    if missing:
        return missing
    try:
        total = campaigns.start_sending(found)
    except campaigns.CampaignError as exc:
        db.session.rollback()
        return _error(409, str(exc))
    actor = f"api:{g.api_token.name}"
    audit.record(actor, audit.CAMPAIGN_SEND, f"campaign:{campaign_id}", total=total)
    db.session.commit()
    return jsonify(campaigns.campaign_status(found)), 202


@bp.get("/campaigns/<int:campaign_id>")
@require_scope(api_tokens.READ_CAMPAIGNS)
def get_campaign(campaign_id: int):
    """A campaign's status and counts (as `flask campaign status`)."""
    found, missing = _campaign_or_404(campaign_id)
    if missing:
        return missing
    db.session.commit()
    return jsonify(campaigns.campaign_status(found)), 200


@bp.get("/campaigns")
@require_scope(api_tokens.READ_CAMPAIGNS)
def list_campaigns():
    """Campaigns, newest first, paged; `status=` filters."""
    try:
        args = query_args(("status", "page", "per_page"))
        query = select(Campaign).order_by(Campaign.id.desc())
        if "status" in args:
            if args["status"] not in CampaignStatus.ALL:
                raise BodyError(f"'status' must be one of {', '.join(CampaignStatus.ALL)}.")
            query = query.where(Campaign.status == args["status"])
        listing = _paged(query, args, campaigns.campaign_status)
    except BodyError as exc:
        return _error(400, str(exc))
    db.session.commit()
    return jsonify(listing), 200
