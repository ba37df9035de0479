"""Subscriber pages: signup, confirm, preferences, unsubscribe, privacy notice.

A GET never changes anything (link scanners prefetch links in mail); every change is a
POST. Token problems get the same kind of page whatever went wrong: 400 for a broken
link, 404 for a subscriber who is gone (both raised by the domain and turned into pages
by this blueprint's error handlers), 410 for an expired confirmation link.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from .. import compliance, i18n, links, rights, subscriptions, tokens, topic_translations
from ..addresses import InvalidAddress
from ..compliance import ComplianceError
from ..extensions import csrf, db, limiter
from ..forms import ButtonForm, DetailsForm, PreferencesForm, SignupForm
from ..subscriptions import Evidence, InertLink, NotFound, OptOut, OptOutResult

bp = Blueprint("public", __name__)


def _evidence(source: str) -> Evidence:
    return Evidence(source=source, ip=request.remote_addr, user_agent=request.user_agent.string)


def _page(title: str, message: str, status: int = 200, **extra):
    return render_template("public/message.html", title=title, message=message, **extra), status


def _bad_link():
    return _page(
        _("This link is not valid"),
        _("The link is incomplete or has been changed. Please use the exact link from the email."),
        400,
    )


def _gone(known: bool = False):
    if known:  # an older message's link, and nobody is subscribed under the person now
        message = _(
            "Nobody is subscribed under this link any more: this address is on none of our lists."
        )
    else:
        message = _(
            "We hold no subscription for this link, so nothing was changed. If you still "
            "receive our messages, use the unsubscribe link in the most recent one."
        )
    return _page(_("You are not subscribed"), message, 404, show_subscribe=True)


@bp.errorhandler(tokens.InvalidToken)
def _invalid_token(_error):
    """Every tampered, garbage or wrong-purpose link gets the same 400 page."""
    return _bad_link()


@bp.errorhandler(NotFound)
def _subscriber_gone(error: NotFound):
    """A valid link whose subscriber has left (opted out, purged) gets a kind 404 page."""
    return _gone(error.known)


@bp.errorhandler(InertLink)
def _test_link(error: InertLink):
    """A test send's (or a preview's) link changes nothing, and its page says so (200:
    also the answer to a mailbox provider's one-click POST)."""
    i18n.use_locale(error.language)
    return render_template("public/unsubscribe_test.html"), 200


def _expired_form():
    return _page(_("This form has expired"), _("Please reload the page and try again."), 400)


def _signup_form() -> SignupForm:
    form = SignupForm()
    form.topics.choices = topic_translations.choices(subscriptions.public_topics(), page_language())
    return form


def _signup_rate_limit() -> str:
    return current_app.config["SIGNUP_RATE_LIMIT"]


def _link_rate_limit() -> str:
    return current_app.config["LINK_RATE_LIMIT"]


@bp.get("/")
def index():
    return subscribe()


def page_language() -> str:
    """The language this page is shown in; its consent text is that language's."""
    return i18n.normalize_locale(str(get_locale())) or i18n.default_language()


def consent_changed(field) -> None:
    """The consent text changed after the page was shown: the box is shown unticked again,
    beside the new text, with this message."""
    field.data = False
    field.errors = [_("The consent wording has changed. Please read it and tick the box again.")]


@bp.route("/subscribe", methods=["GET", "POST"])
@limiter.limit(_signup_rate_limit, methods=["POST"])
def subscribe():
    """Signup form; a valid POST gives the same answer whatever the address's state."""
    form = _signup_form()
    language = page_language()
    consent_text = subscriptions.displayed_consent_text(language)
    if form.validate_on_submit():
        if not form.website.data:
            try:
                subscriptions.request_signup(
                    form.email.data,
                    form.topics.data,
                    form.consent.data,
                    form.consent_text_id.data,
                    _evidence("signup form"),
                    name=form.name.data,
                    locale=language,
                )
            except compliance.ConsentTextChanged as changed:
                db.session.rollback()
                consent_changed(form.consent)
                return _subscribe_page(form, changed.shown, language, 409)
            except (InvalidAddress, ComplianceError, ValueError) as exc:
                db.session.rollback()
                form.email.errors = [*form.email.errors, str(exc)]
                return _subscribe_page(form, consent_text, language, 400)
            db.session.commit()
        return render_template("public/check_inbox.html")
    status = 400 if request.method == "POST" else 200
    return _subscribe_page(form, consent_text, language, status)


def _subscribe_page(form, consent_text, language: str, status: int):
    return render_template(
        "public/subscribe.html", form=form, consent=consent_text, language=language
    ), status


@bp.get("/confirm/<token>")
@limiter.limit(_link_rate_limit)
def confirm(token: str):
    """Show a Confirm button; changes nothing."""
    try:
        subscriber, signup = subscriptions.pending_confirmation(token)
        i18n.use_locale(subscriber.locale)
    except tokens.ExpiredToken:
        return render_template("public/expired.html", token=token, form=ButtonForm()), 410
    topics = subscriptions.topics_by_slug(signup.topics)
    return render_template("public/confirm.html", form=ButtonForm(), topics=topics)


@bp.post("/confirm/<token>")
@limiter.limit(_link_rate_limit)
def confirm_post(token: str):
    """Confirm the signup (double opt-in) and record the consent."""
    if not ButtonForm().validate_on_submit():
        return _expired_form()
    try:
        subscriber, _newly = subscriptions.confirm_signup(token, _evidence("confirmation page"))
    except tokens.ExpiredToken:
        return render_template("public/expired.html", token=token, form=ButtonForm()), 410
    db.session.commit()
    return _page(
        _("You are subscribed"),
        _(
            "Thank you: your subscription is confirmed. You can change your lists or "
            "unsubscribe at any time."
        ),
        preferences_link=links.preferences_url(subscriber.public_id),
    )


@bp.post("/confirm/<token>/resend")
@limiter.limit(_link_rate_limit)
def confirm_resend(token: str):
    """Send a fresh confirmation mail after the first link expired."""
    if not ButtonForm().validate_on_submit():
        return _expired_form()
    subscriptions.resend_confirmation(token)
    db.session.commit()
    return render_template("public/check_inbox.html")


@bp.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str):
    """Topics as checkboxes; no topic left means a full opt-out. The link of an older
    message shows the person's subscription as it is now."""
    target = subscriptions.link_target(tokens.PREFERENCES, token)
    subscriber = subscriptions.subscriber_of(target)
    i18n.use_locale(subscriber.locale)
    form = PreferencesForm()
    form.topics.choices = topic_translations.choices(subscriptions.public_topics(), page_language())
    if form.validate_on_submit():
        try:
            kept = subscriptions.update_preferences(
                subscriber,
                form.topics.data,
                _evidence("preferences page"),
                consent_given=form.consent.data,
                consent_text_id=form.consent_text_id.data,
                language=page_language(),
            )
        except ComplianceError as refused:
            db.session.rollback()
            _consent_refused(form, refused)
            return _preferences_page(subscriber, token, form=form, status=400)
        db.session.commit()
        if not kept:
            result = OptOutResult(OptOut.ERASED, target.older)
            return render_template("public/unsubscribed.html", result=result)
        return _page(
            _("Your choices are saved"), _("Your lists are updated."), preferences_link=request.path
        )
    if request.method == "GET":
        form.topics.data = [s.topic.slug for s in subscriber.subscriptions if s.confirmed_at]
    status = 400 if request.method == "POST" else 200
    return _preferences_page(subscriber, token, form=form, status=status, older=target.older)


def _consent_refused(form, refused: ComplianceError) -> None:
    """A list was added without the ticked box, or beside a text no longer current."""
    if isinstance(refused, compliance.ConsentTextChanged):
        consent_changed(form.consent)
    else:
        form.consent.errors = [_("Please tick the box to give your consent for the lists you add.")]


def _details_form(subscriber) -> DetailsForm:
    form = DetailsForm(prefix="details")
    form.locale.choices = i18n.language_choices()
    if request.method == "GET":
        form.name.data, form.locale.data = subscriber.name, subscriber.locale
    return form


def _preferences_page(
    subscriber, token: str, form=None, details_form=None, status=200, older=False
):
    """The preferences page: topics, stop all, your details (Art. 16), your data (Art. 15)."""
    if form is None:
        form = PreferencesForm(formdata=None)
        form.topics.choices = topic_translations.choices(
            subscriptions.public_topics(), page_language()
        )
        form.topics.data = [s.topic.slug for s in subscriber.subscriptions if s.confirmed_at]
    language = page_language()
    return render_template(
        "public/preferences.html",
        form=form,
        consent=subscriptions.displayed_consent_text(language),
        language=language,
        subscriber=subscriber,
        token=token,
        export_form=ButtonForm(),
        details_form=details_form or _details_form(subscriber),
        unsubscribe_url=links.unsubscribe_url(subscriber.public_id),
        older=older,
    ), status


@bp.post("/preferences/<token>/export")
@limiter.limit(_link_rate_limit)
def export(token: str):
    """ "Download my data" (GDPR Art. 15): a short-lived link is mailed to the address.

    The preferences link may have been forwarded; the data go only to whoever reads the
    address's mail (compliance.access_link_mail_allowed)."""
    if not ButtonForm().validate_on_submit():
        return _expired_form()
    subscriber = subscriptions.subscriber_from_link(tokens.PREFERENCES, token)
    i18n.use_locale(subscriber.locale)
    mailed = rights.mail_export_link(subscriber)
    db.session.commit()  # the request is logged (RightsRequest, channel "mail")
    back = url_for("public.preferences", token=token)
    if not mailed:
        return _page(
            _("Please use the link we mailed you"),
            _(
                "We have already mailed you several download links today. Please use the "
                "latest one, or ask again tomorrow."
            ),
            429,
            preferences_link=back,
        )
    return _page(
        _("We have mailed you a link"),
        _(
            "To keep your data safe, we have sent a link to download them to your email "
            "address. It is valid for %(minutes)s minutes.",
            minutes=compliance.EXPORT_LINK_MAX_AGE_HOURS * 60,
        ),
        preferences_link=back,
    )


@bp.route("/export/<token>", methods=["GET", "POST"])
@limiter.limit(_link_rate_limit)
def export_download(token: str):
    """The mailed download link: GET shows a button (changes nothing), POST downloads."""
    try:
        subscriber, _data = rights.export_from_link(token, download=False)
    except tokens.ExpiredToken:
        return _export_link_expired()
    i18n.use_locale(subscriber.locale)
    form = ButtonForm()
    if request.method == "GET":
        return render_template("public/export.html", form=form)
    if not form.validate_on_submit():
        return _expired_form()
    _subscriber, data = rights.export_from_link(token, download=True)
    db.session.commit()  # the request is marked completed
    body = json.dumps(data, indent=2, ensure_ascii=False)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-newsletter-data.json"'},
    )


def _export_link_expired():
    return _page(
        _("This link has expired"),
        _(
            "Download links are valid for a short time only. Ask for a new one with the "
            '"Download my data" button on your preferences page (linked from every '
            "newsletter)."
        ),
        410,
    )


@bp.post("/preferences/<token>/details")
@limiter.limit(_link_rate_limit)
def details(token: str):
    """Correct name, language or address (GDPR Art. 16); a new address must confirm."""
    subscriber = subscriptions.subscriber_from_link(tokens.PREFERENCES, token)
    i18n.use_locale(subscriber.locale)
    form = _details_form(subscriber)
    if not form.validate_on_submit():
        return _preferences_page(subscriber, token, details_form=form, status=400)
    try:
        changed, asked = subscriptions.correct_details(
            subscriber,
            _evidence("preferences page"),
            name=form.name.data,
            locale=form.locale.data,
            email=form.email.data,
        )
    except (InvalidAddress, ValueError) as exc:
        db.session.rollback()
        form.email.errors = [*form.email.errors, str(exc)]
        return _preferences_page(subscriber, token, details_form=form, status=400)
    db.session.commit()
    i18n.use_locale(subscriber.locale)  # a new language shows at once
    message = _("Your details are saved.") if changed else _("Nothing was changed.")
    if asked:
        message = _(
            "We have sent a mail to your current address to approve the change. Once it "
            "is approved, the new address gets a confirmation link; until that is used, "
            "your mail keeps going to your current address."
        )
        message = (_("Your details are saved.") + " " + message) if changed else message
    return _page(
        _("Your details"), message, preferences_link=url_for("public.preferences", token=token)
    )


@bp.route("/address/approve/<token>", methods=["GET", "POST"])
@limiter.limit(_link_rate_limit)
def address_approve(token: str):
    """The current address approves an address change (the link mailed to it): GET shows
    the new address and a button (changes nothing), POST mails the new address its
    confirmation link (compliance.address_change_first_approved_by_current_address)."""
    try:
        subscriber, change = subscriptions.change_to_approve(token)
    except tokens.ExpiredToken:
        return _address_link_expired()
    i18n.use_locale(subscriber.locale)
    form = ButtonForm()
    if request.method == "GET":
        return render_template(
            "public/address_approve.html", form=form, new_address=change.new_email
        )
    if not form.validate_on_submit():
        return _expired_form()
    _subscriber, change = subscriptions.approve_address_change(token, _evidence("approval link"))
    new_address = change.new_email
    db.session.commit()
    return _page(
        _("We have mailed the new address"),
        _(
            "We have sent a confirmation link to %(address)s. Your address changes when it "
            "is used; until then, your mail keeps going to your current address.",
            address=new_address,
        ),
    )


def _address_link_expired():
    return _page(
        _("This link has expired"),
        _("Please ask again for the change on your preferences page."),
        410,
    )


@bp.route("/address/<token>", methods=["GET", "POST"])
@limiter.limit(_link_rate_limit)
def address_confirm(token: str):
    """Confirm a new address: GET shows a button (changes nothing), POST moves the
    subscription to the new address."""
    try:
        subscriber, _change = subscriptions.pending_address_change(token)
    except tokens.ExpiredToken:
        return _address_link_expired()
    i18n.use_locale(subscriber.locale)
    form = ButtonForm()
    if request.method == "GET":
        return render_template("public/address_confirm.html", form=form)
    if not form.validate_on_submit():
        return _expired_form()
    try:
        subscriber = subscriptions.confirm_address_change(token, _evidence("address link"))
    except subscriptions.AddressTaken:
        db.session.rollback()
        return _page(
            _("This address already has a subscription"),
            _(
                "Nothing was changed: this address receives its own mail from us. You can "
                "manage it with the links in those mails."
            ),
            409,
        )
    db.session.commit()
    return _page(
        _("Your new address is confirmed"),
        _("From now on, our mail goes to this address. The old address has been deleted."),
        preferences_link=links.preferences_url(subscriber.public_id),
    )


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
    result = subscriptions.unsubscribe_all(token, _evidence("unsubscribe link"))
    db.session.commit()
    i18n.use_locale(result.language)
    return render_template("public/unsubscribed.html", result=result)


# Routes owned by other modules, registered on this blueprint.
from . import privacy, reconsent  # noqa: E402, F401
