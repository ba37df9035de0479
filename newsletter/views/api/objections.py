"""The objection register: record an objection, check whether a channel may be used."""

from __future__ import annotations

from flask import g, jsonify

from ... import api_tokens, objections
from ...addresses import InvalidAddressError
from ...extensions import db
from ..bearer import require_scope
from .blueprint import bp
from .helpers import BodyError, error, json_body

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


@bp.post("/objections")
@require_scope(api_tokens.WRITE_OBJECTIONS)
def record_objection():
    """Record an objection to marketing (all channels unless `channels` names some)."""
    try:
        body = json_body(OBJECTION_FIELDS, '{"email": "...", "channels": ["email", ...]}')
        recorded = objections.record_objection(
            body.get("email"), body.get("channels"), via=f"api:{g.api_token.name}"
        )
    except (BodyError, InvalidAddressError, objections.InvalidObjectionError) as exc:
        db.session.rollback()
        return error(400, str(exc))
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
    except (BodyError, InvalidAddressError, objections.InvalidObjectionError) as exc:
        db.session.rollback()
        return error(400, str(exc))
    db.session.commit()  # the token's last use
    return jsonify(may_contact=allowed), 200
