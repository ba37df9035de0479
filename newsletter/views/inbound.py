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

from flask import Blueprint, jsonify, request
from sqlalchemy.exc import IntegrityError

from .. import api_tokens, bounces
from ..extensions import db
from .bearer import require_scope

bp = Blueprint("inbound", __name__, url_prefix="/inbound")


@bp.post("/bounces")
@require_scope(api_tokens.WRITE_BOUNCES)
def receive_bounce():
    """Apply one raw bounce or complaint report; idempotent (a repeat is "duplicate")."""
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
