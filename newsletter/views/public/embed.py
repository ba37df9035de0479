"""The signup form in another site's frame (`/embed/subscribe`, docs/EMBED.md).

Framed only by NEWSLETTER_EMBED_ORIGINS (`frame-ancestors`, security.embeddable). Inside
a frame of another site the browser sends no cookie of ours, so the form carries a
signed form token instead of the session CSRF token; the signup itself is the same
double opt-in as on /subscribe, beside the same consent text.
"""

from __future__ import annotations

from flask import g, request

from ... import security
from ...extensions import limiter
from .blueprint import bp
from .helpers import signup_rate_limit
from .signup import handle_signup


def embedding_site() -> str | None:
    """The origin of the site framing this page, when it is an embed origin: on a GET the
    Referer of the frame's request; on a post the one its form token names."""
    if "embed_origin" in g:
        return g.embed_origin
    source = security.origin_of(request.referrer)
    return source if source in security.embed_origins() else None


@bp.route("/embed/subscribe", methods=["GET", "POST"])
@limiter.limit(signup_rate_limit, methods=["POST"])
@security.embeddable(frame=True)
def embed_subscribe():
    """The minimal signup page for a frame; after a valid post, "check your inbox" with a
    link back to the embedding site (opened in the whole window)."""
    site = embedding_site()
    return handle_signup(
        "public/embed_subscribe.html",
        "public/embed_done.html",
        "embedded signup form",
        embed_token=security.embed_form_token(site),
        back_url=f"{site}/" if site else None,
    )
