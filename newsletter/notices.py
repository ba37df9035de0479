"""System mails: confirmation, welcome, re-consent, goodbye, data download, new address.

No advertising, ever (checklist H4).

They carry `Auto-Submitted: auto-generated` (RFC 3834) and go only to the address
concerned. The subscriber's name is deliberately not used: it is free text from a
public form, and echoing it would let anyone put their words in our mail.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale, lazy_gettext

from . import links, mailer
from .clock import utcnow


def message_id_domain() -> str:
    """The domain used in Message-IDs (the public site's host name)."""
    return urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"


def build_system_mail(template: str, to: str, subject: str, **context) -> EmailMessage:
    """Render templates/email/<template>.txt and .html into a multipart/alternative mail."""
    config = current_app.config
    context.setdefault("organization_name", config["ORGANIZATION_NAME"])
    context.setdefault("organization_address", config["ORGANIZATION_ADDRESS"])
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())  # "+0000": RFC 5322 §3.3, not obsolete "GMT"
    message["Message-ID"] = make_msgid(domain=message_id_domain())
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render_template(f"email/{template}.txt", **context))
    message.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return message


def send_system_mail(template: str, to: str, subject: str, locale: str = "en", **context) -> None:
    """Build a system mail in `locale` and hand it to the messenger (leaves after commit).

    `subject` may be a lazy string: it is translated here, in the recipient's language.
    """
    with force_locale(locale):
        message = build_system_mail(template, to, str(subject), **context)
    mailer.send_after_commit(message)


def send_export_link(to: str, locale: str, download_url: str, max_age_minutes: int) -> None:
    """ "Download your data": the short-lived link, mailed to the address the data are
    about, so that only its holder can download them (GDPR Art. 12(6), 15, 32)."""
    send_system_mail(
        "export_link",
        to,
        lazy_gettext("Your data at %(org)s", org=current_app.config["ORGANIZATION_NAME"]),
        locale=locale,
        download_url=download_url,
        max_age_minutes=max_age_minutes,
        privacy_url=links.privacy_url(),
    )


def send_address_confirmation(to: str, locale: str, confirm_url: str, max_age_hours: int) -> None:
    """A new address of a subscriber is asked to confirm (rectification = a new double
    opt-in, GDPR Art. 16 and 7(1)); sent to the new address only."""
    send_system_mail(
        "address_confirm",
        to,
        lazy_gettext(
            "Please confirm your new address for %(org)s",
            org=current_app.config["ORGANIZATION_NAME"],
        ),
        locale=locale,
        confirm_url=confirm_url,
        max_age_hours=max_age_hours,
        privacy_url=links.privacy_url(),
    )


def send_address_approval(
    to: str, locale: str, new_address: str, approve_url: str, max_age_minutes: int
) -> None:
    """The current address is asked to approve a change to `new_address` before the new
    address gets anything (`compliance.address_change_first_approved_by_current_address`;
    GDPR Art. 5(1)(f), 16, 32): a forwarded preferences link is not enough."""
    send_system_mail(
        "address_approve",
        to,
        lazy_gettext(
            "Do you want to change your address for %(org)s?",
            org=current_app.config["ORGANIZATION_NAME"],
        ),
        locale=locale,
        new_address=new_address,
        approve_url=approve_url,
        max_age_minutes=max_age_minutes,
        privacy_url=links.privacy_url(),
    )


def send_welcome(subscriber) -> None:
    """The welcome mail after a first confirmation (issue 16), unless WELCOME_MAIL is off.

    A system mail: what the person subscribed to, how often to expect mail is not
    promised, the preferences link (change lists or unsubscribe from all); no advertising.
    Sent in the subscriber's language, after the commit of the confirmation.
    """
    if not current_app.config.get("WELCOME_MAIL", True):
        return
    send_system_mail(
        "welcome",
        subscriber.email,
        lazy_gettext(
            "Welcome to the newsletter of %(org)s", org=current_app.config["ORGANIZATION_NAME"]
        ),
        locale=subscriber.locale,
        topics=[s.topic for s in subscriber.subscriptions if s.confirmed_at is not None],
        preferences_url=links.preferences_url(subscriber.public_id),
        privacy_url=links.privacy_url(),
    )
