"""Token-authenticated JSON API, CSRF-exempt: the objection register, subscribers (signup
through double opt-in, reading them), topics and campaigns (docs/API.md).

Every answer is JSON, errors included: 400 with a message saying what to fix (a body
that is not a JSON object, an unknown field, a value of the wrong type: nothing is
recorded), 401 for a missing, unknown or revoked token, 403 for a token without the
scope, 405 (with `Allow`) for another method, 429 past the rate limit
(NEWSLETTER_API_RATE_LIMIT). Documented in docs/openapi.yaml.
"""

from . import campaigns, objections, subscribers, topics  # noqa: F401  (each adds its routes to bp)
from .blueprint import bp

__all__ = ["bp"]
