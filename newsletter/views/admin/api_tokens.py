"""Admin: API tokens of the objection register (create with scopes, list, revoke)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ... import api_tokens, audit
from ...extensions import db
from ...forms import ButtonForm, CheckboxesField
from .auth import owner_only
from .blueprint import bp


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name (e.g. the tool that uses it)"),
        validators=[DataRequired(_l("Give the token a name.")), Length(max=100)],
    )
    scopes = CheckboxesField(_l("Scopes"), choices=[SelectChoice(s) for s in api_tokens.SCOPES])


def _page(form: TokenForm, secret: str | None = None, status: int = 200):
    return render_template(
        "admin/api_tokens.html",
        form=form,
        tokens=api_tokens.list_tokens(),
        secret=secret,
        revoke_form=ButtonForm(),
    ), status


@bp.route("/api-tokens", methods=["GET", "POST"])
@owner_only  # editors may not (issue 16)
def api_tokens_page():
    """List tokens; a valid POST creates one and shows its secret once."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400 if form.is_submitted() else 200)
    try:
        _row, secret = api_tokens.create_token(form.name.data, form.scopes.data)
    except api_tokens.TokenError as exc:
        db.session.rollback()
        form.name.errors = [*form.name.errors, str(exc)]
        return _page(form, status=400)
    audit.record(current_user, audit.API_TOKEN_CREATE, form.name.data, scopes=form.scopes.data)
    db.session.commit()
    return _page(TokenForm(formdata=None), secret=secret)


@bp.post("/api-tokens/<name>/revoke")
@owner_only  # editors may not (issue 16)
def api_token_revoke(name: str):
    """Revoke a token by name: it stops working at once."""
    if ButtonForm().validate_on_submit():
        try:
            api_tokens.revoke_token(name)
        except api_tokens.TokenError as exc:
            db.session.rollback()
            flash(str(exc))
            return redirect(url_for("admin.api_tokens_page"))
        audit.record(current_user, audit.API_TOKEN_REVOKE, name)
        db.session.commit()
        flash(_("Token %(name)s revoked.", name=name))
    return redirect(url_for("admin.api_tokens_page"))
