"""Admin: outgoing webhooks (add with events, secret shown once, remove) and their log."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ... import audit, events, webhooks
from ...extensions import db
from ...forms import ButtonForm, CheckboxesField
from .blueprint import bp


class WebhookForm(FlaskForm):
    url = StringField(
        _l("URL (https://…; http only to this machine)"),
        validators=[DataRequired(), Length(max=2000)],
    )
    events = CheckboxesField(_l("Events"), choices=[SelectChoice(k) for k in events.KINDS])


def _page(form: WebhookForm, secret: str | None = None, status: int = 200):
    return render_template(
        "admin/webhooks.html",
        form=form,
        endpoints=webhooks.list_endpoints(),
        deliveries=webhooks.recent_deliveries(100),
        secret=secret,
        remove_form=ButtonForm(),
    ), status


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks_page():
    """List endpoints and the delivery log; a valid POST adds one and shows its secret once."""
    form = WebhookForm()
    if not form.validate_on_submit():
        return _page(form, status=400 if form.is_submitted() else 200)
    try:
        row, secret = webhooks.add_endpoint(form.url.data, form.events.data)
    except webhooks.WebhookError as exc:
        db.session.rollback()
        form.url.errors = [*form.url.errors, str(exc)]
        return _page(form, status=400)
    audit.record(current_user, webhooks.AUDIT_ADD, f"webhook:{row.id}", events=row.events)
    db.session.commit()
    return _page(WebhookForm(formdata=None), secret=secret)


@bp.post("/webhooks/<int:endpoint_id>/remove")
def webhook_remove(endpoint_id: int):
    """Remove an endpoint (and its log): nothing more is sent to it."""
    if ButtonForm().validate_on_submit():
        try:
            webhooks.remove_endpoint(endpoint_id)
        except webhooks.WebhookError as exc:
            db.session.rollback()
            flash(str(exc))
            return redirect(url_for("admin.webhooks_page"))
        audit.record(current_user, webhooks.AUDIT_REMOVE, f"webhook:{endpoint_id}")
        db.session.commit()
        flash(_("Webhook %(id)s removed.", id=endpoint_id))
    return redirect(url_for("admin.webhooks_page"))
