"""Admin: Branding (logo from the media library, brand colour, link colour, header
text), used by the mail layout and the public pages. docs/MEDIA.md."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField

from ... import branding, media
from ...extensions import db
from .blueprint import bp


class BrandingForm(FlaskForm):
    logo = SelectField(_l("Logo (from the media library)"), choices=[], validate_choice=False)
    brand_color = StringField(_l("Brand colour (header bar, buttons), #rrggbb"))
    link_color = StringField(_l("Link colour, #rrggbb"))
    header_text = StringField(_l("Header text (short, shown at the top of every mail)"))


def _form() -> BrandingForm:
    """The form, filled with the branding in use (a POST's values win)."""
    current = branding.current()
    form = BrandingForm(
        logo=current.logo.name if current.logo else "",
        brand_color=current.brand_color,
        link_color=current.link_color,
        header_text=current.header_text,
    )
    form.logo.choices = [("", _("No logo"))] + [
        (row.name, f"{row.alt} ({row.width} × {row.height})") for row in media.library()
    ]
    return form


def _page(form: BrandingForm, status: int = 200):
    return render_template(
        "admin/branding.html", form=form, current=branding.current(), minimum=branding.MIN_CONTRAST
    ), status


@bp.get("/branding")
def branding_page():
    """The branding in use, and the form to change it."""
    return _page(_form())


@bp.post("/branding")
def branding_save():
    """Save every value, or none: a colour below 4.5:1 against white is refused."""
    form = _form()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        changed = branding.save(
            logo=form.logo.data or None,
            brand_color=form.brand_color.data,
            link_color=form.link_color.data,
            header_text=form.header_text.data,
            actor=current_user,
        )
    except branding.BrandingError as exc:
        db.session.rollback()
        field = {"brand colour": form.brand_color, "link colour": form.link_color}
        target = next((f for word, f in field.items() if word in str(exc)), None)
        target = target or (form.header_text if "header" in str(exc) else form.logo)
        target.errors = [*target.errors, str(exc)]
        return _page(form, 400)
    db.session.commit()
    flash(_("Branding saved.") if changed else _("Nothing changed."))
    return redirect(url_for("admin.branding_page"))
