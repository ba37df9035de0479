"""Admins managed in the UI (issue 16): list, invite, deactivate (owners only); the
invitation link that sets a password; one's own account page (password, two-factor).

Audit entries name accounts by id, never by address.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ... import admins, audit, links, notices, tokens
from ...extensions import db, limiter
from .account_forms import ChangePasswordForm, CodeForm, InviteForm, SetPasswordForm
from .auth import CODE_RATE_LIMIT, owner_only
from .blueprint import bp
from .forms import ButtonForm

ADMIN_INVITE = "admin.invite"
ADMIN_DEACTIVATE = "admin.deactivate"
ADMIN_PASSWORD = "admin.password-change"
ADMIN_INVITATION_ACCEPTED = "admin.invitation-accepted"
ADMIN_2FA_ON = "admin.2fa-enabled"


def _admins_page(form=None, status: int = 200):
    return render_template(
        "admin/admins.html",
        accounts=admins.all_admins(),
        form=form or InviteForm(formdata=None),
        button=ButtonForm(),
        invited=admins.is_invited,
        two_factor=admins.has_two_factor,
    ), status


@bp.get("/admins")
@owner_only
def admins_page():
    """Every admin account, with its role and state, and the invitation form."""
    return _admins_page()


@bp.post("/admins")
@owner_only
def admins_invite():
    """Invite an admin: an account without a password, and a link to set one by mail."""
    form = InviteForm()
    if not form.validate_on_submit():
        return _admins_page(form, 400)
    try:
        account, token = admins.invite_admin(form.email.data, form.role.data)
    except admins.AdminError as exc:
        db.session.rollback()
        form.email.errors = [*form.email.errors, str(exc)]
        return _admins_page(form, 400)
    _mail_invitation(account, token)
    audit.record(current_user, ADMIN_INVITE, str(account.id), role=account.role)
    db.session.commit()
    flash(
        _(
            "Invitation sent to %(email)s (valid %(hours)s hours).",
            email=account.email,
            hours=admins.INVITE_MAX_AGE_HOURS,
        )
    )
    return redirect(url_for("admin.admins_page"))


def _mail_invitation(account, token: str) -> None:
    notices.send_system_mail(
        "admin_invite",
        account.email,
        _l(
            "You are invited to the newsletter admin of %(organization)s",
            organization=current_app.config["ORGANIZATION_NAME"],
        ),
        locale=str(get_locale() or "en"),
        invite_url=links.public_url("admin.invitation", token=token),
        role=account.role,
        max_age_hours=admins.INVITE_MAX_AGE_HOURS,
    )


@bp.post("/admins/<int:admin_id>/deactivate")
@owner_only
def admins_deactivate(admin_id: int):
    """Stop an account from signing in (not yourself, not the last owner)."""
    account = db.session.get(admins.AdminUser, admin_id) or abort(404, _("No such admin."))
    if not ButtonForm().validate_on_submit():
        abort(400, _("The form expired; go back, reload the page and try again."))
    try:
        admins.deactivate(account, current_user)
    except admins.AdminError as exc:
        db.session.rollback()
        flash(str(exc))
        return redirect(url_for("admin.admins_page"))
    audit.record(current_user, ADMIN_DEACTIVATE, str(account.id))
    db.session.commit()
    flash(_("%(email)s can no longer sign in.", email=account.email))
    return redirect(url_for("admin.admins_page"))


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def invitation(token: str):
    """An invited admin sets a password (the link works once, and expires)."""
    try:
        account = admins.invited_admin(token)
    except tokens.ExpiredTokenError:
        abort(410, _("This invitation has expired: ask an owner to invite you again."))
    except tokens.InvalidTokenError:
        abort(404, _("This invitation link is not valid, or was used already."))
    form = SetPasswordForm()
    status = 400 if form.is_submitted() else 200
    if form.validate_on_submit():
        try:
            admins.accept_invitation(token, form.password.data)
        except admins.AdminError as exc:
            db.session.rollback()
            form.password.errors = [*form.password.errors, str(exc)]
        else:
            audit.record(account, ADMIN_INVITATION_ACCEPTED, str(account.id))
            db.session.commit()
            flash(_("Your password is set. Sign in."))
            return redirect(url_for("admin.login"))
    return render_template("admin/invitation.html", form=form, account=account), status


# --- one's own account ----------------------------------------------------------------------


def _account_page(password_form=None, code_form=None, status: int = 200):
    secret = admins.enrolment_secret(current_user)
    return render_template(
        "admin/account.html",
        password_form=password_form or ChangePasswordForm(formdata=None),
        code_form=code_form or CodeForm(formdata=None),
        button=ButtonForm(),
        two_factor=admins.has_two_factor(current_user),
        secret=secret,
        otpauth_uri=admins.provisioning_uri(current_user, secret) if secret else None,
    ), status


@bp.get("/account")
def account():
    """Your account: role, password change, two-factor login."""
    return _account_page()


@bp.post("/account/password")
def account_password():
    """Change your own password: the current one is required."""
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _account_page(password_form=form, status=400)
    try:
        admins.change_password(current_user, form.current.data, form.password.data)
    except admins.AdminError as exc:
        db.session.rollback()
        form.password.errors = [*form.password.errors, str(exc)]
        return _account_page(password_form=form, status=400)
    audit.record(current_user, ADMIN_PASSWORD, str(current_user.id))
    db.session.commit()
    flash(_("Your password is changed."))
    return redirect(url_for("admin.account"))


@bp.post("/account/two-factor")
def account_two_factor_start():
    """Make a new secret to enter in an authenticator app (off until a code is checked)."""
    if not ButtonForm().validate_on_submit():
        abort(400, _("The form expired; go back, reload the page and try again."))
    try:
        admins.begin_enrolment(current_user)
    except admins.AdminError as exc:
        flash(str(exc))
        return redirect(url_for("admin.account"))
    db.session.commit()
    return redirect(url_for("admin.account"))


@bp.post("/account/two-factor/confirm")
@limiter.limit(CODE_RATE_LIMIT)
def account_two_factor_confirm():
    """Switch two-factor login on once a code from the app matches the secret."""
    form = CodeForm()
    if not form.validate_on_submit() or admins.enrolment_secret(current_user) is None:
        return _account_page(code_form=form, status=400)
    if not admins.confirm_enrolment(current_user, form.code.data):
        form.code.errors = [*form.code.errors, _("This code does not match: try the current one.")]
        return _account_page(code_form=form, status=400)
    audit.record(current_user, ADMIN_2FA_ON, str(current_user.id))
    db.session.commit()
    flash(_("Two-factor login is on: from now on, sign-in asks for a code after the password."))
    return redirect(url_for("admin.account"))
