"""The breach log (GDPR Art. 33(5)): list, add, correct (as a new entry), export."""

from __future__ import annotations

from datetime import UTC

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, HiddenField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, NumberRange, Optional

from ... import audit, breaches
from ...clock import utcnow
from ...extensions import db
from ...models import BreachLogEntry
from .auth import owner_only
from .blueprint import bp

_WHEN = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


class BreachForm(FlaskForm):
    occurred_at = DateTimeLocalField(
        _l("When it happened (UTC; leave empty if not known)"),
        format=_WHEN,
        validators=[Optional()],
    )
    discovered_at = DateTimeLocalField(
        _l("When it was discovered (UTC)"),
        format=_WHEN,
        validators=[DataRequired(_l("Give the date and time the breach was discovered."))],
    )
    nature = TextAreaField(_l("What happened (nature of the breach)"))
    data_categories = TextAreaField(_l("Categories of personal data and of people concerned"))
    people_affected = IntegerField(
        _l("Approximate number of people affected (leave empty if not known)"),
        validators=[Optional(), NumberRange(min=0, message=_l("The number cannot be negative."))],
    )
    consequences = TextAreaField(_l("Likely consequences for the people"))
    measures = TextAreaField(_l("Measures taken or proposed"))
    authority_notified = BooleanField(_l("Notified to the supervisory authority"))
    authority_notified_at = DateTimeLocalField(
        _l("Notified on (UTC)"), format=_WHEN, validators=[Optional()]
    )
    people_informed = BooleanField(_l("The people concerned were informed (Art. 34)"))
    reasoning = TextAreaField(
        _l("Why the authority or the people were (not) told, and the reasons for any delay")
    )
    corrects = HiddenField()

    def facts(self) -> breaches.BreachFacts:
        def utc(value):
            return value.replace(tzinfo=UTC) if value else None

        return breaches.BreachFacts(
            occurred_at=utc(self.occurred_at.data),
            discovered_at=utc(self.discovered_at.data),
            nature=self.nature.data or "",
            data_categories=self.data_categories.data or "",
            people_affected=self.people_affected.data,
            consequences=self.consequences.data or "",
            measures=self.measures.data or "",
            authority_notified=self.authority_notified.data,
            authority_notified_at=utc(self.authority_notified_at.data),
            people_informed=self.people_informed.data,
            reasoning=self.reasoning.data or "",
        )


def _prefilled(original: BreachLogEntry) -> BreachForm:
    """A form holding the entry to correct, so that only what changed is typed."""
    values = {name: getattr(original, name) for name in breaches.BreachFacts.__dataclass_fields__}
    for name in ("occurred_at", "discovered_at", "authority_notified_at"):
        values[name] = values[name] and values[name].replace(tzinfo=None)
    return BreachForm(formdata=None, corrects=str(original.id), **values)


@bp.route("/records/breaches", methods=["GET", "POST"])
@owner_only  # editors may not (issue 16)
def records_breaches():
    """The log, newest first, and the form for a new entry or a correction."""
    form = BreachForm()
    original = db.session.get(BreachLogEntry, request.args.get("corrects", 0, type=int))
    if request.method == "GET" and original is not None:
        form = _prefilled(original)
    if form.validate_on_submit():
        corrects = int(form.corrects.data) if (form.corrects.data or "").isdigit() else None
        try:
            entry = breaches.record_breach(current_user, form.facts(), corrects=corrects)
        except breaches.BreachLogError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Entry #%(id)s added to the breach log.", id=entry.id))
            return redirect(url_for("admin.records_breaches"))
    rows = breaches.entries()
    return render_template(
        "admin/breaches.html",
        form=form,
        rows=rows,
        corrected_by=breaches.corrected_by(rows),
        overdue=breaches.overdue(rows, utcnow()),
        correcting=form.corrects.data,
    ), 400 if form.is_submitted() else 200


@bp.get("/records/breaches.csv")
@owner_only  # editors may not (issue 16)
def records_breaches_csv():
    """The whole log as CSV (audit-logged)."""
    audit.record(current_user, breaches.AUDIT_EXPORT, "")
    db.session.commit()
    return Response(
        "".join(breaches.csv_lines()),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="breach-log.csv"'},
    )
