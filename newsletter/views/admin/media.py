"""Admin: the media library (list, upload, delete, copy the Markdown snippet) and the
upload that compose uses (JSON: the snippet to insert). docs/MEDIA.md."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField

from ... import media
from ...extensions import db
from .blueprint import bp


class UploadForm(FlaskForm):
    image = FileField(_l("Image (JPEG, PNG, GIF or WebP)"))
    alt = StringField(_l("Alt text: what the image shows (required)"))


class DeleteForm(FlaskForm):
    anyway = BooleanField(_l("Delete it even though campaigns show it"))


def _page(form: UploadForm, status: int = 200, error: str | None = None):
    rows = media.library()
    return render_template(
        "admin/media.html",
        form=form,
        rows=rows,
        error=error,
        snippets={row.name: media.markdown_snippet(row) for row in rows},
        urls={row.name: media.url(row.name) for row in rows},
        usage={row.name: media.used_in(row.name) for row in rows},
        delete_form=DeleteForm(formdata=None),
    ), status


def _store() -> tuple[object, bool]:
    """Upload the posted image; MediaError (with the message to show) when refused.
    The size limit is checked on the received file (MEDIA_MAX_UPLOAD_BYTES); Werkzeug
    keeps a large upload in a temporary file, not in memory, while it arrives."""
    file = request.files.get("image")
    if file is None or not file.filename:
        raise media.MediaError(_("Choose an image file to upload."))
    data = file.stream.read(media.upload_limit() + 1)
    return media.upload(data, file.filename, request.form.get("alt"), current_user)


@bp.get("/media")
def media_library():
    """Every image with its address, Markdown snippet and the campaigns that show it."""
    return _page(UploadForm())


@bp.post("/media")
def media_upload():
    """Upload one image (with its alt text); errors are shown above the form."""
    form = UploadForm()
    if not form.validate_on_submit():
        return _page(form, 400, _("The form has expired: reload the page and try again."))
    try:
        row, created = _store()
    except media.MediaError as exc:
        db.session.rollback()
        return _page(form, 400, str(exc))
    db.session.commit()
    flash(
        _("Image uploaded (%(width)s × %(height)s px).", width=row.width, height=row.height)
        if created
        else _("This image is already in the library.")
    )
    return redirect(url_for("admin.media_library", _anchor=f"m-{row.name}"))


@bp.post("/media/upload.json")
def media_upload_json():
    """Compose's button and drag-and-drop: the same upload, answered with the snippet."""
    if not UploadForm().validate_on_submit():
        return jsonify(error=_("The form has expired: reload the page and try again.")), 400
    try:
        row, _created = _store()
    except media.MediaError as exc:
        db.session.rollback()
        return jsonify(error=str(exc)), 400
    db.session.commit()
    return jsonify(name=row.name, url=media.url(row.name), snippet=media.markdown_snippet(row))


@bp.post("/media/<name>/delete")
def media_delete(name: str):
    """Delete an image; one that campaigns show needs the "delete anyway" box."""
    form = DeleteForm()
    row = media.by_name(name)
    if not form.validate_on_submit() or row is None:
        flash(_("Nothing deleted: the image is gone or the form expired."))
        return redirect(url_for("admin.media_library"))
    used = media.used_in(name)
    if used and not form.anyway.data:
        flash(
            ngettext(
                "Not deleted: %(num)d campaign(s) show this image (%(subjects)s); mail already"
                " sent would show its alt text instead. Tick “Delete it even though campaigns"
                " show it” to delete it anyway.",
                "Not deleted: %(num)d campaign(s) show this image (%(subjects)s); mail already"
                " sent would show its alt text instead. Tick “Delete it even though campaigns"
                " show it” to delete it anyway.",
                len(used),
                subjects=", ".join(f"“{c.subject}”" for c in used[:5]),
            )
        )
        return redirect(url_for("admin.media_library", _anchor=f"m-{name}"))
    media.delete(row, current_user)
    db.session.commit()
    media.remove_file(name)
    flash(_("Image deleted."))
    return redirect(url_for("admin.media_library"))
