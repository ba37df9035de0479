"""What the subscriber pages share: evidence of a request, message pages, rate limits and
the page's language."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from ... import i18n
from ...subscriptions import Evidence


def evidence(source: str) -> Evidence:
    """Where a consent change came from: the page, the client's IP and user agent."""
    return Evidence(source=source, ip=request.remote_addr, user_agent=request.user_agent.string)


def page(title: str, message: str, status: int = 200, **extra):
    """A page with a title and one message (and the links `extra` asks for)."""
    return render_template("public/message.html", title=title, message=message, **extra), status


def bad_link():
    """The one answer to a tampered, garbage or wrong-purpose link."""
    return page(
        _("This link is not valid"),
        _("The link is incomplete or has been changed. Please use the exact link from the email."),
        400,
    )


def gone(known: bool = False):
    """A valid link whose subscriber has left (opted out, purged)."""
    if known:  # an older message's link, and nobody is subscribed under the person now
        message = _(
            "Nobody is subscribed under this link any more: this address is on none of our lists."
        )
    else:
        message = _(
            "We hold no subscription for this link, so nothing was changed. If you still "
            "receive our messages, use the unsubscribe link in the most recent one."
        )
    return page(_("You are not subscribed"), message, 404, show_subscribe=True)


def expired_form():
    """A form post without a valid CSRF token."""
    return page(_("This form has expired"), _("Please reload the page and try again."), 400)


def link_expired(message: str):
    """A mailed link past its validity (410)."""
    return page(_("This link has expired"), message, 410)


def signup_rate_limit() -> str:
    """Flask-Limiter's limit for signups per client IP (NEWSLETTER_SIGNUP_RATE_LIMIT)."""
    return current_app.config["SIGNUP_RATE_LIMIT"]


def link_rate_limit() -> str:
    """Flask-Limiter's limit for the pages of mailed links (NEWSLETTER_LINK_RATE_LIMIT)."""
    return current_app.config["LINK_RATE_LIMIT"]


def page_language() -> str:
    """The language this page is shown in; its consent text is that language's."""
    return i18n.normalize_locale(str(get_locale())) or i18n.default_language()


def consent_changed(field) -> None:
    """The consent text changed after the page was shown: the box is shown unticked again,
    beside the new text, with this message."""
    field.data = False
    field.errors = [_("The consent wording has changed. Please read it and tick the box again.")]
