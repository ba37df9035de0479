"""Consent texts, per language: an edit stores a new version of that language's text;
earlier versions stay as they were. A language without a text of its own shows the
default language's on its pages, and this page says which languages lack one."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ... import audit, i18n, subscriptions
from ...extensions import db
from ...models import ConsentText
from .blueprint import bp
from .forms import ConsentTextForm


@bp.route("/consent-texts", methods=["GET", "POST"])
def consent_texts():
    """Every language's current wording; the chosen language's editable, with its versions."""
    language = i18n.normalize_locale(request.args.get("locale")) or i18n.default_language()
    current = subscriptions.current_consent_text(language)
    form = ConsentTextForm(text=current.text if current else "")
    if form.validate_on_submit():
        _save(form.text.data, language, current)
        return redirect(url_for("admin.consent_texts", locale=language))
    versions = db.session.scalars(
        select(ConsentText)
        .where(ConsentText.locale == language)
        .order_by(ConsentText.version.desc())
    )
    status = 400 if form.errors else 200
    return render_template(
        "admin/consent_texts.html",
        form=form,
        versions=list(versions),
        current=current,
        language=language,
        shown={code: subscriptions.displayed_consent_text(code) for code in i18n.offered()},
        missing=subscriptions.consent_text_languages_missing(),
    ), status


def _save(wording: str, language: str, current: ConsentText | None) -> None:
    name = i18n.LANGUAGES[language]
    text = subscriptions.add_consent_text(wording, language)
    if current is not None and text.id == current.id:
        flash(_("The text is unchanged; no new version was made."))
    elif current is not None and text.version < current.version:
        # Wordings are unique per language: an old text cannot come back as a new version.
        flash(
            _(
                "This wording is %(language)s version %(number)s already; the %(language)s "
                "pages keep showing version %(current)s. Change the text to make a new version.",
                language=name,
                number=text.version,
                current=current.version,
            )
        )
    else:
        audit.record(current_user, audit.CONSENT_TEXT_EDIT, f"{language} v{text.version}")
        db.session.commit()
        flash(
            _(
                "%(language)s version %(number)s is now shown on the %(language)s pages.",
                language=name,
                number=text.version,
            )
        )
