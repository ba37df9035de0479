"""Public pages of issue 16: the web version of a campaign message and the archive.

`GET /view/<token>`: one campaign in one language, no personal data (newsletter/webversion.py).
`GET /archive`: the published campaigns, newest first; `GET /archive/feed.xml`: the same
as an Atom feed. A tampered or unknown link is a clear 404 page, never a 500.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext

from .. import i18n, security, webversion

bp = Blueprint("webversion", __name__)


@bp.get("/view/<token>")
def view(token: str):
    """The web version ("view in browser") in the link's language, or the one chosen
    with the page's language switch (`?lang=`)."""
    try:
        shown, language = webversion.from_token(token, request.args.get("lang"))
    except webversion.NotAvailable:
        i18n.use_locale(i18n.select_locale())
        return _not_available()
    i18n.use_locale(language)
    page = render_template("public/webversion.html", version=shown)
    return page, 200, {"Content-Security-Policy": _policy_with_images()}


def _policy_with_images() -> str:
    """The public pages' policy, with the author's https images allowed, as in the mail
    (images uploaded in the admin are served from this site anyway)."""
    policy = {**security.PUBLIC_POLICY, "img-src": "'self' data: https:"}
    nonce = security.csp_nonce()
    return "; ".join(f"{k} {v}" for k, v in policy.items()).format(nonce=nonce)


def _not_available():
    return render_template("public/webversion_missing.html"), 404


def _visitor_language() -> str:
    """`?lang=`, else the browser's language (i18n.select_locale), for the whole page."""
    language = i18n.select_locale()
    i18n.use_locale(language)
    return language


@bp.get("/archive")
def archive():
    """The published campaigns, newest first, in the visitor's language where written."""
    language = _visitor_language()
    entries = webversion.archive(language)
    return render_template("public/archive.html", entries=entries, language=language)


@bp.get("/archive/feed.xml")
def feed():
    """The archive as an Atom feed (RFC 4287)."""
    language = _visitor_language()
    config = current_app.config
    body = webversion.atom_feed(
        webversion.archive(language),
        language,
        title=gettext(
            "%(organization)s newsletter archive", organization=config["ORGANIZATION_NAME"]
        ),
        organization=config["ORGANIZATION_NAME"],
    )
    return body, 200, {"Content-Type": "application/atom+xml; charset=utf-8"}
