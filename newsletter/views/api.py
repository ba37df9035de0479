"""Token-authenticated JSON API (the objection register), CSRF-exempt.

Every answer is JSON, errors included: 400 with a message saying what to fix (a body
that is not a JSON object, an unknown field, a value of the wrong type: nothing is
recorded), 401 for a missing, unknown or revoked token, 403 for a token without the
scope, 405 (with `Allow`) for another method, 429 past the rate limit
(NEWSLETTER_API_RATE_LIMIT). Documented in docs/openapi.yaml.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from .. import api_tokens, objections
from ..addresses import InvalidAddress
from ..extensions import db, limiter
from .bearer import require_scope

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _api_rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


limiter.limit(_api_rate_limit)(bp)


def _error(status: int, message: str, **headers):
    return jsonify(error=message), status, headers


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


def json_body(fields: dict[str, tuple[type, str]], example: str) -> dict:
    """The request's JSON object, holding only `fields`, each of its type; else BodyError.

    Absent fields are left to the domain function (which says what is missing); `null`
    counts as the wrong type, as in the OpenAPI document.
    """
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
        if name in body and not isinstance(body[name], kind):
            raise BodyError(f"'{name}' must be {expected}. Nothing was recorded.")
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
