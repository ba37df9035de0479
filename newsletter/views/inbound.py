"""`POST /inbound/bounces`: a bounce or complaint report handed over by a program.

For mail servers and providers that deliver reports by HTTP (a pipe to curl, a
provider's webhook carrying the raw message). The body is the raw message
(`message/rfc822`); authentication is a bearer token compared in constant time
(INBOUND_TOKEN). CSRF-exempt like the API: no cookie, no session, the token is the proof.
Answers are JSON: 200 with the outcome, 400 for a message that is not a report,
401 without the token, 413 past 10 MB.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from .. import bounces
from ..extensions import csrf, db

bp = Blueprint("inbound", __name__)


def init_app(app: Flask) -> None:
    """Register the blueprint under /inbound, exempt from CSRF (token-authenticated)."""
    app.register_blueprint(bp, url_prefix="/inbound")
    csrf.exempt(bp)


def _authorised() -> bool:
    expected = current_app.config.get("INBOUND_TOKEN")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), str(expected).encode())


@bp.post("/bounces")
def receive_bounce():
    """Apply one raw bounce or complaint report; idempotent (a repeat is "duplicate")."""
    if not _authorised():
        challenge = {"WWW-Authenticate": 'Bearer realm="inbound"'}
        return (
            jsonify(error="A valid token is required (Authorization: Bearer ...)."),
            401,
            challenge,
        )
    raw = request.stream.read(bounces.MAX_REPORT_BYTES + 1)
    if len(raw) > bounces.MAX_REPORT_BYTES:
        return jsonify(error="The message is larger than 10 MB."), 413
    try:
        outcome = bounces.process(raw, "http")
        db.session.commit()
    except bounces.ReportError as exc:
        return jsonify(error=str(exc)), 400
    except IntegrityError:  # the same report posted twice at the same moment
        db.session.rollback()
        outcome = "duplicate"
    return jsonify(outcome=outcome)
