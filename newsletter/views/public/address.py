"""An address change asked on the preferences page: approved by the current address,
then confirmed by the new one (compliance.address_change_first_approved_by_current_address)."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from ... import i18n, links, subscriptions, tokens
from ...extensions import db, limiter
from ...forms import ButtonForm
from .blueprint import bp
from .helpers import evidence, expired_form, link_expired, link_rate_limit, page


def address_link_expired():
    """An approval or confirmation link past its validity."""
    return link_expired(_("Please ask again for the change on your preferences page."))


@bp.route("/address/approve/<token>", methods=["GET", "POST"])
@limiter.limit(link_rate_limit)
def address_approve(token: str):
    """The current address approves an address change (the link mailed to it): GET shows
    the new address and a button (changes nothing), POST mails the new address its
    confirmation link (compliance.address_change_first_approved_by_current_address)."""
    try:
        subscriber, change = subscriptions.change_to_approve(token)
    except tokens.ExpiredTokenError:
        return address_link_expired()
    i18n.use_locale(subscriber.locale)
    form = ButtonForm()
    if request.method == "GET":
        return render_template(
            "public/address_approve.html", form=form, new_address=change.new_email
        )
    if not form.validate_on_submit():
        return expired_form()
    _subscriber, change = subscriptions.approve_address_change(token, evidence("approval link"))
    new_address = change.new_email
    db.session.commit()
    return page(
        _("We have mailed the new address"),
        _(
            "We have sent a confirmation link to %(address)s. Your address changes when it "
            "is used; until then, your mail keeps going to your current address.",
            address=new_address,
        ),
    )


@bp.route("/address/<token>", methods=["GET", "POST"])
@limiter.limit(link_rate_limit)
def address_confirm(token: str):
    """Confirm a new address: GET shows a button (changes nothing), POST moves the
    subscription to the new address."""
    try:
        subscriber, _change = subscriptions.pending_address_change(token)
    except tokens.ExpiredTokenError:
        return address_link_expired()
    i18n.use_locale(subscriber.locale)
    form = ButtonForm()
    if request.method == "GET":
        return render_template("public/address_confirm.html", form=form)
    if not form.validate_on_submit():
        return expired_form()
    try:
        subscriber = subscriptions.confirm_address_change(token, evidence("address link"))
    except subscriptions.AddressTakenError:
        db.session.rollback()
        return page(
            _("This address already has a subscription"),
            _(
                "Nothing was changed: this address receives its own mail from us. You can "
                "manage it with the links in those mails."
            ),
            409,
        )
    db.session.commit()
    return page(
        _("Your new address is confirmed"),
        _("From now on, our mail goes to this address. The old address has been deleted."),
        preferences_link=links.preferences_url(subscriber.public_id),
    )
