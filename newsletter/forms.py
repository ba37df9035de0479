"""Public web forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .addresses import InvalidAddressError, normalise


class CheckboxesField(SelectMultipleField):
    """A list of checkboxes, none ticked by default."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def no_control_characters(form, field) -> None:
    """Reject CR, LF and other control characters: they never reach a header."""
    if field.data and any(ord(ch) < 32 or ord(ch) == 127 for ch in field.data):
        raise ValidationError(_l("Line breaks and control characters are not allowed here."))


def valid_address(form, field) -> None:
    try:
        normalise(field.data or "")
    except InvalidAddressError as exc:
        raise ValidationError(
            _l("Please check the email address: %(reason)s", reason=str(exc))
        ) from exc


class SignupForm(FlaskForm):
    email = StringField(
        _l("Email address"),
        validators=[DataRequired(_l("Please enter your email address.")), valid_address],
    )
    name = StringField(
        _l("Name (optional)"), validators=[Optional(), Length(max=200), no_control_characters]
    )
    topics = CheckboxesField(_l("Lists"), choices=[], validate_choice=True)
    consent = BooleanField(_l("I agree"), default=False)
    # The text the page showed; the server checks it is the one it shows now.
    consent_text_id = HiddenField()
    # Honeypot: hidden from people, filled by bots. A filled one is answered like any
    # other signup, and nothing is stored or sent.
    website = StringField("Leave this field empty", validators=[Optional()])

    def validate_topics(self, field) -> None:
        if not field.data:
            raise ValidationError(_l("Choose at least one list."))

    def validate_consent(self, field) -> None:
        if not field.data:
            raise ValidationError(_l("Please tick the box to give your consent."))


class PreferencesForm(FlaskForm):
    """The lists a person receives. A list added here is a consent: the box beside the
    consent text must be ticked (checked in `subscriptions.update_preferences`)."""

    topics = CheckboxesField(_l("Lists"), choices=[], validate_choice=True)
    consent = BooleanField(_l("I agree"), default=False)
    # The text the page showed; the server checks it is the one it shows now.
    consent_text_id = HiddenField()


class ButtonForm(FlaskForm):
    """A form that is only a button (confirm, keep me subscribed, download my data)."""


class DetailsForm(FlaskForm):
    """Rectification on the preferences page (GDPR Art. 16): name and language change at
    once; a new address gets a confirmation mail first."""

    name = StringField(
        _l("Name (optional)"), validators=[Optional(), Length(max=200), no_control_characters]
    )
    locale = SelectField(_l("Language of our mail and pages"), choices=[], validate_choice=True)
    email = StringField(
        _l("New email address (optional)"),
        validators=[Optional(), Length(max=320), valid_address],
    )
