"""Admin import: upload, preview every row's outcome, then confirm (or cancel).

The uploaded file is kept in the instance folder only between the preview and the
confirmation (or cancel), under a random name bound to the admin's session; the
`purge-import-uploads` job deletes leftovers after an hour. The confirmation decides
every row again against the database as it is then, in one transaction.

The operator's declaration (`compliance.OWN_CONTACTS_DECLARATION`) is a required checkbox;
the example files with every evidence column are offered for download.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_from_directory,
    session,
    stream_template,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ... import imports, periods
from ...compliance import OWN_CONTACTS_DECLARATION, ComplianceError
from ...extensions import db
from ...models import Basis
from .blueprint import bp


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file (UTF-8)"), validators=[FileRequired(_l("Choose a CSV file."))])
    basis = SelectField(
        _l("Lawful basis"),
        choices=[
            SelectChoice(Basis.CONSENT, _l("Consent")),
            SelectChoice(Basis.EXISTING_CUSTOMER, _l("Existing customers")),
        ],
    )
    source = StringField(
        _l("Where these people came from"),
        validators=[
            DataRequired(_l("Describe the source.")),
            Length(
                min=10,
                max=200,
                message=_l(
                    "Describe where these people came from (at least 10 characters, at "
                    "most 200), e.g. 'shop checkout 2024, newsletter box ticked'."
                ),
            ),
        ],
    )
    own_contacts = BooleanField(
        validators=[
            DataRequired(
                _l(
                    "Confirm that every person in the file gave their consent to, or bought "
                    "from, this business itself (not a list bought, rented or borrowed from "
                    "someone else)."
                )
            )
        ]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        org = current_app.config["ORGANIZATION_NAME"]
        self.own_contacts.label.text = OWN_CONTACTS_DECLARATION.format(org=org)


class ConfirmImportForm(FlaskForm):
    upload = HiddenField()
    basis = HiddenField()
    source = HiddenField()
    own_contacts = HiddenField()


def _upload_path(upload: str | None) -> Path | None:
    """The waiting file of this admin's session, or None (unknown, stale, or not theirs)."""
    if not upload or not re.fullmatch(r"[0-9a-f]{32}", upload) or session.get("import") != upload:
        return None
    path = imports.upload_folder() / f"{upload}.csv"
    return path if path.exists() else None


def _run(path: Path, form, dry_run: bool):
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return imports.import_csv(
            stream,
            form.basis.data,
            form.source.data or "",
            form.own_contacts.data in (True, "y"),
            actor=current_user.email,
            dry_run=dry_run,
            keep_rows=dry_run,
        )


@bp.route("/import", methods=["GET", "POST"])
def import_upload():
    """Upload form; a valid upload shows the preview of every row (nothing written)."""
    form = ImportForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return _upload_page(form), status
    upload = secrets.token_hex(16)
    imports.upload_folder().mkdir(parents=True, exist_ok=True)
    path = imports.upload_folder() / f"{upload}.csv"
    form.file.data.save(path)
    try:
        report = _run(path, form, dry_run=True)
    except (ComplianceError, imports.ImportFileError) as exc:
        db.session.rollback()
        path.unlink(missing_ok=True)
        form.form_errors.append(str(exc))
        return _upload_page(form), 400
    db.session.rollback()  # a preview writes nothing
    session["import"] = upload
    confirm = ConfirmImportForm(
        upload=upload, basis=form.basis.data, source=form.source.data, own_contacts="y"
    )
    return render_template(
        "admin/import_preview.html", report=report, form=confirm, limit=imports.report.KEPT_ROWS
    )


def _upload_page(form):
    return render_template(
        "admin/import.html", form=form, examples=imports.EXAMPLE_FILES, period=_period
    )


def _period(key: str) -> str:
    """`{{ period('KEY') }}` in years and months, as the public pages show periods, in
    the language of the admin page (the admin's choice, see `i18n.select_locale`)."""
    return periods.config_period(current_app.config, key, str(get_locale()))


@bp.get("/import/example/<basis>.csv")
def import_example(basis: str):
    """A complete example file with every evidence column of this basis (no real person)."""
    name = imports.EXAMPLE_FILES.get(basis)
    if name is None:
        abort(404)
    return send_from_directory(
        current_app.static_folder, name, mimetype="text/csv", as_attachment=True
    )


@bp.post("/import/confirm")
def import_confirm():
    """Import the previewed file for real, in one transaction; show the report."""
    form = ConfirmImportForm()
    path = _upload_path(form.upload.data) if form.validate_on_submit() else None
    if path is None:
        flash(_("This preview has expired or was already imported; please upload the file again."))
        return redirect(url_for("admin.import_upload"))
    try:
        report = _run(path, form, dry_run=False)
    except (ComplianceError, imports.ImportFileError) as exc:
        db.session.rollback()
        flash(_("%(problem)s Nothing was imported.", problem=exc))
        return redirect(url_for("admin.import_upload"))
    db.session.commit()
    path.unlink(missing_ok=True)
    session.pop("import", None)
    # The commit expired the signed-in admin, and the streamed page is rendered after
    # this view's database session has been closed: load it again now, or the page's
    # header (current_user.email) fails with DetachedInstanceError and the page is blank.
    db.session.refresh(current_user._get_current_object())
    # Streamed: every skipped row is listed, read back from the report's temporary file.
    return stream_template("admin/import_done.html", report=report)


@bp.post("/import/cancel")
def import_cancel():
    """Drop the previewed file without importing anything."""
    form = ConfirmImportForm()
    path = _upload_path(form.upload.data) if form.validate_on_submit() else None
    if path is not None:
        path.unlink(missing_ok=True)
    session.pop("import", None)
    flash(_("Import cancelled; nothing was imported."))
    return redirect(url_for("admin.import_upload"))
