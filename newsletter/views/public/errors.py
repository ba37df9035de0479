"""The pages for links that cannot be followed, whichever route met them."""

from __future__ import annotations

from flask import render_template

from ... import i18n, tokens
from ...subscriptions import InertLink, NotFound
from .blueprint import bp
from .helpers import bad_link, gone


@bp.errorhandler(tokens.InvalidToken)
def invalid_token(_error):
    """Every tampered, garbage or wrong-purpose link gets the same 400 page."""
    return bad_link()


@bp.errorhandler(NotFound)
def subscriber_gone(error: NotFound):
    """A valid link whose subscriber has left (opted out, purged) gets a kind 404 page."""
    return gone(error.known)


@bp.errorhandler(InertLink)
def inert_link(error: InertLink):
    """A test send's (or a preview's) link changes nothing, and its page says so (200:
    also the answer to a mailbox provider's one-click POST)."""
    i18n.use_locale(error.language)
    return render_template("public/unsubscribe_test.html"), 200
