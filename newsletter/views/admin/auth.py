"""Admin login and logout; every other admin page requires a logged-in admin.

Login is the password, then, for an account with two-factor login on, a TOTP code
(`login_code`, rate-limited). `owner_only` guards what editors may not do.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ... import admins, audit
from ...clock import utcnow
from ...extensions import db, limiter
from ...extensions import login as login_manager
from .account_forms import CodeForm
from .blueprint import bp
from .forms import ButtonForm, LoginForm

# Reachable without a session (everything else on the blueprint is behind login).
OPEN_ENDPOINTS = {"admin.login", "admin.login_code", "admin.invitation"}
# Endpoints only owners reach (filled by `owner_only`; the navigation hides them).
OWNER_ENDPOINTS: set[str] = set()
PENDING_KEY = "admin_2fa_pending"  # the admin between password and code: [id, time]
PENDING_SECONDS = 300
CODE_RATE_LIMIT = "5 per minute; 20 per hour"


@bp.before_request
def require_login():
    """Every admin page, present and future, is behind login (defence in depth)."""
    if request.endpoint not in OPEN_ENDPOINTS and not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def is_owner(admin=None) -> bool:
    admin = admin if admin is not None else current_user
    return getattr(admin, "role", None) == admins.OWNER


def owner_only(view):
    """Owners only: editors get 403 (exports, erasure, admins, API tokens, records)."""
    OWNER_ENDPOINTS.add(f"admin.{view.__name__}")

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if not is_owner():
            abort(403, _("Only an owner may do this: ask an owner of this installation."))
        return view(*args, **kwargs)

    return guarded


def _login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str:
    """Only a local path is followed after login (no open redirect)."""
    parts = urlsplit(target or "")
    if target and target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return url_for("admin.dashboard")


def _sign_in(admin, next_url: str | None):
    # A fresh session: nothing from before the login carries over, not even the
    # CSRF token Flask-WTF cached in `g` for the old session.
    session.clear()
    g.pop("csrf_token", None)
    login_user(admin)
    admins.record_login(admin)
    audit.record(admin, audit.LOGIN, two_factor=admins.has_two_factor(admin))
    db.session.commit()
    return redirect(_safe_next(next_url))


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
        if admin is not None and admins.has_two_factor(admin):
            session.clear()
            g.pop("csrf_token", None)
            session[PENDING_KEY] = [admin.id, int(utcnow().timestamp()), form.next.data or ""]
            db.session.commit()
            return redirect(url_for("admin.login_code"))
        if admin is not None:
            return _sign_in(admin, form.next.data)
        form.password.errors.append(_("Wrong address or password."))
        status = 401
    return render_template(
        "admin/login.html", form=form, no_admin=admins.admin_count() == 0
    ), status


def _pending_admin():
    pending = session.get(PENDING_KEY)
    if not (isinstance(pending, list) and len(pending) == 3):
        return None, ""
    admin_id, started, next_url = pending
    if utcnow().timestamp() - started > PENDING_SECONDS:
        return None, ""
    admin = db.session.get(admins.AdminUser, admin_id)
    if admin is None or not admin.is_active or not admins.has_two_factor(admin):
        return None, ""
    return admin, next_url


def _code_limit_key() -> str:
    # Per account and per client: a stolen password alone cannot try codes at speed.
    pending = session.get(PENDING_KEY) or ["-"]
    return f"2fa:{pending[0]}:{request.remote_addr}"


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(CODE_RATE_LIMIT, methods=["POST"], key_func=_code_limit_key)
def login_code():
    """The second step of login: the six-digit code of the authenticator app."""
    admin, next_url = _pending_admin()
    if admin is None:
        session.pop(PENDING_KEY, None)
        flash(_("Sign in again: the code must follow the password within five minutes."))
        return redirect(url_for("admin.login"))
    form = CodeForm()
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        if admins.verify_code(admin, form.code.data):
            return _sign_in(admin, next_url)
        audit.record(admin, "admin.2fa-failed")
        db.session.commit()
        form.code.errors.append(_("Wrong or used code: enter the code your app shows now."))
        status = 401
    return render_template("admin/login_code.html", form=form), status


@bp.post("/logout")
def logout():
    """Sign out (a POST with a CSRF token, so another site cannot log the admin out)."""
    if not ButtonForm().validate_on_submit():
        flash(_("The form expired; please try again."))
        return redirect(url_for("admin.dashboard"))
    audit.record(current_user, audit.LOGOUT)
    db.session.commit()
    logout_user()
    session.clear()  # before the flash below, which lives in the session
    g.pop("csrf_token", None)
    flash(_("You are signed out."))
    return redirect(url_for("admin.login"))
