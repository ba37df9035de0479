"""System mails: confirmation, re-consent, goodbye. No advertising, ever (checklist H4).

They carry `Auto-Submitted: auto-generated` (RFC 3834) and go only to the address
concerned. The subscriber's name is deliberately not used: it is free text from a
public form, and echoing it would let anyone put their words in our mail.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale

from . import mailer
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
