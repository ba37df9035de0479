"""The consolidated opt-out: “unsubscribe from all”, also the RFC 8058 one-click target."""

from __future__ import annotations

from flask import render_template, request

from ... import campaign_figures, i18n, subscriptions, tokens
from ...extensions import csrf, db
from .blueprint import bp
from .helpers import evidence


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str):
    """GET: one button, nothing changes. POST: consolidated opt-out and erasure.

    The POST is also the RFC 8058 one-click target: no cookie, no CSRF token, always
    200 (never a redirect), idempotent. The link of an older message acts on the
    person's current subscription, and both pages say what the link reaches.
    """
    if request.method == "GET":
        target = subscriptions.link_target(tokens.UNSUBSCRIBE, token)
        if target.subscriber is not None:
            i18n.use_locale(target.subscriber.locale)
        return render_template("public/unsubscribe.html", token=token, target=target)
    result = subscriptions.unsubscribe_all(token, evidence("unsubscribe link"))
    campaign_figures.count_opt_out(request.args.get("c"), result)  # issue 16, figures
    db.session.commit()
    i18n.use_locale(result.language)
    return render_template("public/unsubscribed.html", result=result)
