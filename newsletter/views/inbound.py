"""`POST /inbound/bounces`: a bounce or complaint report handed over by a program.

For mail servers and providers that deliver reports by HTTP (a pipe to curl, a
provider's webhook carrying the raw message). The body is the raw message
(`message/rfc822`); authentication is an API token with the scope `bounces:write`
(`flask api-token create NAME --scope bounces:write`). CSRF-exempt like the API: no
cookie, no session, the token is the proof. Answers are JSON: 200 with the outcome,
400 for a message that is not a report, 401 without a live token, 403 for a token
without the scope, 413 past 10 MB.
"""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, request
from sqlalchemy.exc import IntegrityError

from .. import api_tokens, bounces
from ..extensions import csrf, db

bp = Blueprint("inbound", __name__)


def init_app(app: Flask) -> None:
    """Register the blueprint under /inbound, exempt from CSRF (token-authenticated)."""
    app.register_blueprint(bp, url_prefix="/inbound")
    csrf.exempt(bp)


def _token_problem():
    """None when the request carries a live token with `bounces:write`, else the answer."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    token = api_tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        message = "A valid API token is required (Authorization: Bearer ...)."
        return jsonify(error=message), 401, {"WWW-Authenticate": 'Bearer realm="inbound"'}
    if not api_tokens.has_scope(token, api_tokens.WRITE_BOUNCES):
        return jsonify(error=f"This token lacks the scope {api_tokens.WRITE_BOUNCES!r}."), 403
    return None


@bp.post("/bounces")
def receive_bounce():
    """Apply one raw bounce or complaint report; idempotent (a repeat is "duplicate")."""
    problem = _token_problem()
    if problem is not None:
        return problem
    raw = request.stream.read(bounces.MAX_REPORT_BYTES + 1)
    if len(raw) > bounces.MAX_REPORT_BYTES:
        return jsonify(error="The message is larger than 10 MB."), 413
    try:
        outcome = bounces.process(raw, "http")
        db.session.commit()  # also records the token's last use
    except bounces.ReportError as exc:
        db.session.commit()
        return jsonify(error=str(exc)), 400
    except IntegrityError:  # the same report posted twice at the same moment
        db.session.rollback()
        outcome = "duplicate"
    return jsonify(outcome=outcome)
