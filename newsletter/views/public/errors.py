"""The pages for links that cannot be followed, whichever route met them."""

from __future__ import annotations

from flask import render_template

from ... import i18n, tokens
from ...subscriptions import InertLinkError, NotFoundError
from .blueprint import bp
from .helpers import bad_link, gone


@bp.errorhandler(tokens.InvalidTokenError)
def invalid_token(_error):
    """Every tampered, garbage or wrong-purpose link gets the same 400 page."""
    return bad_link()


@bp.errorhandler(NotFoundError)
def subscriber_gone(error: NotFoundError):
    """A valid link whose subscriber has left (opted out, purged) gets a kind 404 page."""
    return gone(error.known)


@bp.errorhandler(InertLinkError)
def inert_link(error: InertLinkError):
    """A test send's (or a preview's) link changes nothing, and its page says so (200:
    also the answer to a mailbox provider's one-click POST)."""
    i18n.use_locale(error.language)
    return render_template("public/unsubscribe_test.html"), 200
