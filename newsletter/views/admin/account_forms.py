"""Forms of the everyday-admin pages (issue 16): admins, account, add a subscriber,
list export. Flask-WTF: every one carries a CSRF token."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from ...admins import ROLES
from ...audit import ADDRESS_PATTERN
from ...forms import CheckboxesField, no_control_characters


def no_address(form, field) -> None:
    """The reason goes into the audit log, which never holds an address."""
    if field.data and ADDRESS_PATTERN.search(field.data):
        raise ValidationError(_("Leave addresses out of the reason (it goes into the audit log)."))


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code from your authenticator app"),
        validators=[DataRequired(_l("Enter the six-digit code.")), Length(max=12)],
    )


class InviteForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(_l("Enter an address."))])
    role = SelectField(_l("Role"), choices=list(ROLES), validate_choice=True)


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password (at least 12 characters)"),
        validators=[DataRequired(_l("Enter a password."))],
    )
    repeat = PasswordField(
        _l("Repeat the password"),
        validators=[EqualTo("password", _l("The two passwords differ."))],
    )


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField(
        _l("Current password"), validators=[DataRequired(_l("Enter your current password."))]
    )


class AddSubscriberForm(FlaskForm):
    """One person added by hand: a pending double opt-in, with the reason why."""

    email = EmailField(_l("Email address"), validators=[DataRequired(_l("Enter the address."))])
    name = StringField(
        _l("Name (optional)"), validators=[Optional(), Length(max=200), no_control_characters]
    )
    locale = SelectField(_l("Language"), choices=[], validate_choice=True)
    topics = CheckboxesField(_l("Lists"), choices=[], validate_choice=True)
    reason = TextAreaField(
        _l(
            'Why (required): how and when the person asked, e.g. "asked at the shop counter '
            'on 2026-12-01"'
        ),
        validators=[
            DataRequired(_l("Say how and when the person asked to be added.")),
            Length(min=10, max=180, message=_l("Write 10 to 180 characters.")),
            no_control_characters,
            no_address,
        ],
    )
