"""The admin's language: the switcher in the admin header posts here; the choice is kept
on the admin's account (`AdminUser.locale`), so it follows them to every browser and
survives signing out, and another admin keeps theirs."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user

from ... import i18n
from ...extensions import db
from .blueprint import bp
from .forms import ButtonForm


def _back() -> str:
    """Back to the admin page the switcher was on (a local /admin path only)."""
    target = request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/admin") and not parts.netloc and not target.startswith("//"):
        return target
    return url_for("admin.dashboard")


@bp.post("/language")
def language():
    """Save the signed-in admin's language (nl, fr or en)."""
    if not ButtonForm().validate_on_submit():
        flash(_("The form expired; please try again."))
        return redirect(_back())
    chosen = i18n.normalize_locale(request.form.get("locale"))
    if chosen is None:
        flash(_("Choose one of the languages offered."))
        return redirect(_back())
    current_user.locale = chosen
    db.session.commit()
    refresh()
    flash(_("The admin pages are now in English."))
    return redirect(_back())
