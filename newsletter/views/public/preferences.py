"""The preferences page: topics, stop all, your details (GDPR Art. 16), your data (Art. 15)."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _

from ... import compliance, i18n, links, subscriptions, tokens, topic_translations
from ...addresses import InvalidAddressError
from ...compliance import ComplianceError
from ...extensions import db, limiter
from ...forms import ButtonForm, DetailsForm, PreferencesForm
from ...subscriptions import OptOut, OptOutResult
from .blueprint import bp
from .helpers import consent_changed, evidence, link_rate_limit, page, page_language


def preferences_form(subscriber, formdata=True) -> PreferencesForm:
    """The topic checkboxes; on a GET, ticked as the person's subscription is now."""
    form = PreferencesForm() if formdata else PreferencesForm(formdata=None)
    form.topics.choices = topic_translations.choices(subscriptions.public_topics(), page_language())
    if request.method == "GET" or not formdata:
        form.topics.data = [s.topic.slug for s in subscriber.subscriptions if s.confirmed_at]
    return form


@bp.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str):
    """Topics as checkboxes; no topic left means a full opt-out. The link of an older
    message shows the person's subscription as it is now."""
    target = subscriptions.link_target(tokens.PREFERENCES, token)
    subscriber = subscriptions.subscriber_of(target)
    i18n.use_locale(subscriber.locale)
    form = preferences_form(subscriber)
    if form.validate_on_submit():
        try:
            kept = subscriptions.update_preferences(
                subscriber,
                form.topics.data,
                evidence("preferences page"),
                consent_given=form.consent.data,
                consent_text_id=form.consent_text_id.data,
                language=page_language(),
            )
        except ComplianceError as refused:
            db.session.rollback()
            consent_refused(form, refused)
            return preferences_page(subscriber, token, form=form, status=400)
        db.session.commit()
        if not kept:
            result = OptOutResult(OptOut.ERASED, target.older)
            return render_template("public/unsubscribed.html", result=result)
        return page(
            _("Your choices are saved"), _("Your lists are updated."), preferences_link=request.path
        )
    status = 400 if request.method == "POST" else 200
    return preferences_page(subscriber, token, form=form, status=status, older=target.older)


def consent_refused(form, refused: ComplianceError) -> None:
    """A list was added without the ticked box, or beside a text no longer current."""
    if isinstance(refused, compliance.ConsentTextChangedError):
        consent_changed(form.consent)
    else:
        form.consent.errors = [_("Please tick the box to give your consent for the lists you add.")]


def details_form(subscriber) -> DetailsForm:
    """Name, language and address; on a GET, filled in as they are now."""
    form = DetailsForm(prefix="details")
    form.locale.choices = i18n.language_choices()
    if request.method == "GET":
        form.name.data, form.locale.data = subscriber.name, subscriber.locale
    return form


def preferences_page(
    subscriber, token: str, form=None, shown_details=None, status=200, older=False
):
    """The preferences page: topics, stop all, your details (Art. 16), your data (Art. 15)."""
    language = page_language()
    return render_template(
        "public/preferences.html",
        form=form or preferences_form(subscriber, formdata=False),
        consent=subscriptions.displayed_consent_text(language),
        language=language,
        subscriber=subscriber,
        token=token,
        export_form=ButtonForm(),
        details_form=shown_details or details_form(subscriber),
        unsubscribe_url=links.unsubscribe_url(subscriber.public_id),
        older=older,
    ), status


@bp.post("/preferences/<token>/details")
@limiter.limit(link_rate_limit)
def details(token: str):
    """Correct name, language or address (GDPR Art. 16); a new address must confirm."""
    subscriber = subscriptions.subscriber_from_link(tokens.PREFERENCES, token)
    i18n.use_locale(subscriber.locale)
    form = details_form(subscriber)
    if not form.validate_on_submit():
        return preferences_page(subscriber, token, shown_details=form, status=400)
    try:
        changed, asked = subscriptions.correct_details(
            subscriber,
            evidence("preferences page"),
            name=form.name.data,
            locale=form.locale.data,
            email=form.email.data,
        )
    except (InvalidAddressError, ValueError) as exc:
        db.session.rollback()
        form.email.errors = [*form.email.errors, str(exc)]
        return preferences_page(subscriber, token, shown_details=form, status=400)
    db.session.commit()
    i18n.use_locale(subscriber.locale)  # a new language shows at once
    back = url_for("public.preferences", token=token)
    return page(_("Your details"), details_saved_message(changed, asked), preferences_link=back)


def details_saved_message(changed: bool, asked: bool) -> str:
    """What the details form did: saved, nothing changed, and/or an approval mailed."""
    message = _("Your details are saved.") if changed else _("Nothing was changed.")
    if asked:
        message = _(
            "We have sent a mail to your current address to approve the change. Once it "
            "is approved, the new address gets a confirmation link; until that is used, "
            "your mail keeps going to your current address."
        )
        message = (_("Your details are saved.") + " " + message) if changed else message
    return message
