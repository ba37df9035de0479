"""Admin forms (Flask-WTF: every one carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from ...forms import no_control_characters


class LoginForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(_l("Enter your address."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password."))])
    next = HiddenField()


class ButtonForm(FlaskForm):
    """A form that is only a button (logout, export, cancel, send now)."""


class TopicForm(FlaskForm):
    slug = StringField(
        _l("Slug (in List-Id headers; cannot change later)"),
        validators=[Optional(), Length(max=64)],
    )
    name = StringField(
        _l("Name"), validators=[DataRequired(_l("A topic needs a name.")), no_control_characters]
    )
    description = TextAreaField(_l("Description (optional)"), validators=[Optional()])
    own_similar_products = BooleanField(
        _l("About our own similar products (may go to existing customers without consent)")
    )
    product_range = TextAreaField(
        _l("Product range (required when about our own similar products)"),
        validators=[Optional(), Length(max=2000)],
    )


class EraseForm(FlaskForm):
    confirm = BooleanField(
        _l("I understand: the address and its subscriptions are deleted for good"),
        validators=[InputRequired(_l("Tick the box to confirm the erasure."))],
    )


class ConsentTextForm(FlaskForm):
    text = TextAreaField(
        _l("Consent text"), validators=[DataRequired(_l("The consent text cannot be empty."))]
    )


class CampaignForm(FlaskForm):
    # The default language's version; the other languages' fields are added per
    # language (views/admin/campaigns.py, campaign_form). A version is optional: the
    # domain says what a started one lacks (campaign_versions.set_versions).
    subject = StringField(
        _l("Subject"), validators=[Optional(), Length(max=300), no_control_characters]
    )
    preheader = StringField(
        _l("Preheader (the preview line in inboxes)"),
        validators=[Optional(), Length(max=300), no_control_characters],
    )
    topic = SelectField(_l("Topic"), choices=[], validate_choice=True)
    body_markdown = TextAreaField(_l("Body (Markdown)"), validators=[Optional()])
    sample = SelectField(_l("Preview as"), choices=[], validate_choice=False)
    # Used by the "Send test" and "Schedule" buttons only (checked by those actions).
    test_address = EmailField(_l("Test address"), validators=[Optional()])
    send_at = DateTimeLocalField(
        _l("Send at (UTC)"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"], validators=[Optional()]
    )


class DetailsForm(FlaskForm):
    """Rectification (GDPR Art. 16): name and language at once; a new address must
    confirm through a link mailed to it first."""

    name = StringField(_l("Name"), validators=[Optional(), Length(max=200), no_control_characters])
    locale = SelectField(_l("Language"), choices=[], validate_choice=True)
    email = EmailField(
        _l("New address (a confirmation link is mailed to it; the old one stays until then)"),
        validators=[Optional(), Length(max=320)],
    )


class AccessRequestForm(FlaskForm):
    """An access request (GDPR Art. 15) for an address, subscribed or not any more."""

    email = EmailField(
        _l("Address"), validators=[DataRequired(_l("Enter the address asked about."))]
    )
