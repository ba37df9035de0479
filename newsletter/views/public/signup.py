"""Signup and its double opt-in: the form, the confirmation page, a fresh link."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from ... import compliance, i18n, links, security, subscriptions, tokens, topic_translations
from ...addresses import InvalidAddressError
from ...compliance import ComplianceError
from ...extensions import db, limiter
from ...forms import ButtonForm, SignupForm
from .blueprint import bp
from .helpers import (
    consent_changed,
    evidence,
    expired_form,
    link_rate_limit,
    page,
    page_language,
    signup_rate_limit,
)


def signup_form() -> SignupForm:
    """The signup form, its list checkboxes being the public topics. A post the embed
    policy accepted carries no session token (security.check_embedded_post)."""
    form = SignupForm(meta={"csrf": False}) if security.embedded_post() else SignupForm()
    form.topics.choices = topic_translations.choices(subscriptions.public_topics(), page_language())
    return form


@bp.get("/")
def index():
    return subscribe()


@bp.route("/subscribe", methods=["GET", "POST"])
@limiter.limit(signup_rate_limit, methods=["POST"])
@security.embeddable()
def subscribe():
    """Signup form; a valid POST gives the same answer whatever the address's state. The
    embed origins' pages may post here too (their snippet's form; docs/EMBED.md)."""
    return handle_signup(
        "public/subscribe.html",
        "public/check_inbox.html",
        "signup form",
        back_url=security.back_link(),
    )


def handle_signup(form_template: str, done_template: str, source: str, **context):
    """Show the form, or record a valid signup and answer `done_template` (the same
    whatever the address's state). `context` goes to both templates."""
    form = signup_form()
    language = page_language()
    consent_text = subscriptions.displayed_consent_text(language)
    if form.validate_on_submit():
        if not form.website.data:  # the honeypot: answered alike, nothing stored
            try:
                request_signup(form, language, source)
            except compliance.ConsentTextChangedError as changed:
                db.session.rollback()
                consent_changed(form.consent)
                return signup_page(form_template, form, changed.shown, language, 409, **context)
            except (InvalidAddressError, ComplianceError, ValueError) as exc:
                db.session.rollback()
                form.email.errors = [*form.email.errors, str(exc)]
                return signup_page(form_template, form, consent_text, language, 400, **context)
            db.session.commit()
        return render_template(done_template, **context)
    status = 400 if request.method == "POST" else 200
    return signup_page(form_template, form, consent_text, language, status, **context)


def request_signup(form: SignupForm, language: str, source: str) -> None:
    """The pending signup and its confirmation mail (subscriptions.request_signup)."""
    subscriptions.request_signup(
        form.email.data,
        form.topics.data,
        form.consent.data,
        form.consent_text_id.data,
        evidence(source),
        name=form.name.data,
        locale=language,
    )


def signup_page(template: str, form, consent_text, language: str, status: int, **context):
    """The signup form beside the consent text shown (and recorded) in `language`."""
    return render_template(
        template, form=form, consent=consent_text, language=language, **context
    ), status


@bp.get("/confirm/<token>")
@limiter.limit(link_rate_limit)
def confirm(token: str):
    """Show a Confirm button; changes nothing."""
    try:
        subscriber, signup = subscriptions.pending_confirmation(token)
        i18n.use_locale(subscriber.locale)
    except tokens.ExpiredTokenError:
        return render_template("public/expired.html", token=token, form=ButtonForm()), 410
    topics = subscriptions.topics_by_slug(signup.topics)
    return render_template("public/confirm.html", form=ButtonForm(), topics=topics)


@bp.post("/confirm/<token>")
@limiter.limit(link_rate_limit)
def confirm_post(token: str):
    """Confirm the signup (double opt-in) and record the consent."""
    if not ButtonForm().validate_on_submit():
        return expired_form()
    try:
        subscriber, _newly = subscriptions.confirm_signup(token, evidence("confirmation page"))
    except tokens.ExpiredTokenError:
        return render_template("public/expired.html", token=token, form=ButtonForm()), 410
    db.session.commit()
    return page(
        _("You are subscribed"),
        _(
            "Thank you: your subscription is confirmed. You can change your lists or "
            "unsubscribe at any time."
        ),
        preferences_link=links.preferences_url(subscriber.public_id),
    )


@bp.post("/confirm/<token>/resend")
@limiter.limit(link_rate_limit)
def confirm_resend(token: str):
    """Send a fresh confirmation mail after the first link expired."""
    if not ButtonForm().validate_on_submit():
        return expired_form()
    subscriptions.resend_confirmation(token)
    db.session.commit()
    return render_template("public/check_inbox.html")
