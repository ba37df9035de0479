"""Consent texts: an edit stores a new version; earlier versions stay as they were."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from ... import audit, subscriptions
from ...extensions import db
from ...models import ConsentText
from . import bp
from .forms import ConsentTextForm


@bp.route("/consent-texts", methods=["GET", "POST"])
def consent_texts():
    """The current wording (editable) and every earlier version (read-only)."""
    current = subscriptions.current_consent_text()
    form = ConsentTextForm(text=current.text if current else "")
    if form.validate_on_submit():
        text = subscriptions.add_consent_text(form.text.data)
        if current is not None and text.id == current.id:
            flash("The text is unchanged; no new version was made.")
        elif current is not None and text.version < current.version:
            # Wordings are unique: an old text cannot come back as a new version.
            flash(
                f"This wording is version {text.version} already; the form keeps showing "
                f"version {current.version}. Change the text to make a new version."
            )
        else:
            audit.record(current_user, audit.CONSENT_TEXT_EDIT, f"v{text.version}")
            db.session.commit()
            flash(f"Version {text.version} is now shown on the signup form.")
        return redirect(url_for("admin.consent_texts"))
    versions = db.session.scalars(select(ConsentText).order_by(ConsentText.version.desc()))
    status = 400 if form.errors else 200
    return render_template(
        "admin/consent_texts.html", form=form, versions=list(versions), current=current
    ), status
