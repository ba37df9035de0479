"""Forms of the everyday-admin pages (issue 16): admins, account, add a subscriber,
list export. Flask-WTF: every one carries a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from ...admins import ROLES
from ...audit import ADDRESS_PATTERN
from ...forms import CheckboxesField, no_control_characters


def no_address(form, field) -> None:
    """The reason goes into the audit log, which never holds an address."""
    if field.data and ADDRESS_PATTERN.search(field.data):
        raise ValidationError("Leave addresses out of the reason (it goes into the audit log).")


class CodeForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app",
        validators=[DataRequired("Enter the six-digit code."), Length(max=12)],
    )


class InviteForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter an address.")])
    role = SelectField("Role", choices=list(ROLES), validate_choice=True)


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password (at least 12 characters)",
        validators=[DataRequired("Enter a password.")],
    )
    repeat = PasswordField(
        "Repeat the password",
        validators=[EqualTo("password", "The two passwords differ.")],
    )


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password.")]
    )


class AddSubscriberForm(FlaskForm):
    """One person added by hand: a pending double opt-in, with the reason why."""

    email = EmailField("Email address", validators=[DataRequired("Enter the address.")])
    name = StringField(
        "Name (optional)", validators=[Optional(), Length(max=200), no_control_characters]
    )
    locale = SelectField("Language", choices=[], validate_choice=True)
    topics = CheckboxesField("Lists", choices=[], validate_choice=True)
    reason = TextAreaField(
        'Why (required): how and when the person asked, e.g. "asked at the shop counter '
        'on 2026-12-01"',
        validators=[
            DataRequired("Say how and when the person asked to be added."),
            Length(min=10, max=180, message="Write 10 to 180 characters."),
            no_control_characters,
            no_address,
        ],
    )
