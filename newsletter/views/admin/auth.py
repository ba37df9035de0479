"""Admin login and logout; every other admin page requires a logged-in admin."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ... import admins, audit
from ...extensions import db, limiter
from ...extensions import login as login_manager
from .blueprint import bp
from .forms import ButtonForm, LoginForm

# Reachable without a session (everything else on the blueprint is behind login).
OPEN_ENDPOINTS = {"admin.login"}


@bp.before_request
def require_login():
    """Every admin page, present and future, is behind login (defence in depth)."""
    if request.endpoint not in OPEN_ENDPOINTS and not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def _login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str:
    """Only a local path is followed after login (no open redirect)."""
    parts = urlsplit(target or "")
    if target and target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
def login():
    """Sign in; explains how to create the first admin while there is none."""
    if current_user.is_authenticated:
        return redirect(url_for("admin.dashboard"))
    form = LoginForm(next=request.args.get("next", ""))
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        admin = admins.authenticate(form.email.data, form.password.data)
        if admin is not None:
            # A fresh session: nothing from before the login carries over, not even the
            # CSRF token Flask-WTF cached in `g` for the old session.
            session.clear()
            g.pop("csrf_token", None)
            login_user(admin)
            audit.record(admin, audit.LOGIN)
            db.session.commit()
            return redirect(_safe_next(form.next.data))
        form.password.errors.append("Wrong address or password.")
        status = 401
    return render_template(
        "admin/login.html", form=form, no_admin=admins.admin_count() == 0
    ), status


@bp.post("/logout")
def logout():
    """Sign out (a POST with a CSRF token, so another site cannot log the admin out)."""
    if not ButtonForm().validate_on_submit():
        flash("The form expired; please try again.")
        return redirect(url_for("admin.dashboard"))
    audit.record(current_user, audit.LOGOUT)
    db.session.commit()
    logout_user()
    session.clear()  # before the flash below, which lives in the session
    g.pop("csrf_token", None)
    flash("You are signed out.")
    return redirect(url_for("admin.login"))
