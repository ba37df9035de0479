"""Bearer-token authentication of the programs' endpoints (the API, inbound bounces).

`Authorization: Bearer TOKEN`, a token from `flask api-token create` or the admin
(newsletter.api_tokens: stored hashed, revocable, with scopes). No cookie, no session:
the token is the proof, so these blueprints are CSRF-exempt.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, jsonify, request

from .. import api_tokens


def bearer_token():
    """The live token the request carries, or None (none, unknown, revoked, other scheme)."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return api_tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" else None


def require_scope(scope: str) -> Callable:
    """Answer 401 without a live bearer token, 403 without `scope`; else run the view,
    with the token in `g.api_token`. The answers are JSON, like the endpoints'."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            token = bearer_token()
            if token is None:
                challenge = {"WWW-Authenticate": f'Bearer realm="{request.blueprint}"'}
                message = "A valid API token is required (Authorization: Bearer ...)."
                return jsonify(error=message), 401, challenge
            if not api_tokens.has_scope(token, scope):
                return jsonify(error=f"This token lacks the scope {scope!r}."), 403
            g.api_token = token
            return view(*args, **kwargs)

        return wrapper

    return decorate
