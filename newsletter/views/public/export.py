"""“Download my data” (GDPR Art. 15): a short-lived link mailed to the address, and the
download behind it."""

from __future__ import annotations

import json

from flask import Response, render_template, request, url_for
from flask_babel import gettext as _

from ... import compliance, i18n, rights, subscriptions, tokens
from ...extensions import db, limiter
from ...forms import ButtonForm
from .blueprint import bp
from .helpers import expired_form, link_expired, link_rate_limit, page


@bp.post("/preferences/<token>/export")
@limiter.limit(link_rate_limit)
def export(token: str):
    """ "Download my data" (GDPR Art. 15): a short-lived link is mailed to the address.

    The preferences link may have been forwarded; the data go only to whoever reads the
    address's mail (compliance.access_link_mail_allowed)."""
    if not ButtonForm().validate_on_submit():
        return expired_form()
    subscriber = subscriptions.subscriber_from_link(tokens.PREFERENCES, token)
    i18n.use_locale(subscriber.locale)
    mailed = rights.mail_export_link(subscriber)
    db.session.commit()  # the request is logged (RightsRequest, channel "mail")
    back = url_for("public.preferences", token=token)
    if not mailed:
        return page(
            _("Please use the link we mailed you"),
            _(
                "We have already mailed you several download links today. Please use the "
                "latest one, or ask again tomorrow."
            ),
            429,
            preferences_link=back,
        )
    return page(
        _("We have mailed you a link"),
        _(
            "To keep your data safe, we have sent a link to download them to your email "
            "address. It is valid for %(minutes)s minutes.",
            minutes=compliance.EXPORT_LINK_MAX_AGE_HOURS * 60,
        ),
        preferences_link=back,
    )


@bp.route("/export/<token>", methods=["GET", "POST"])
@limiter.limit(link_rate_limit)
def export_download(token: str):
    """The mailed download link: GET shows a button (changes nothing), POST downloads."""
    try:
        subscriber, _data = rights.export_from_link(token, download=False)
    except tokens.ExpiredTokenError:
        return export_link_expired()
    i18n.use_locale(subscriber.locale)
    form = ButtonForm()
    if request.method == "GET":
        return render_template("public/export.html", form=form)
    if not form.validate_on_submit():
        return expired_form()
    _subscriber, data = rights.export_from_link(token, download=True)
    db.session.commit()  # the request is marked completed
    body = json.dumps(data, indent=2, ensure_ascii=False)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-newsletter-data.json"'},
    )


def export_link_expired():
    """The download link is past its validity: ask again from the preferences page."""
    return link_expired(
        _(
            "Download links are valid for a short time only. Ask for a new one with the "
            '"Download my data" button on your preferences page (linked from every '
            "newsletter)."
        )
    )
