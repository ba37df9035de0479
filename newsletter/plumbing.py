"""What the operator must fix so that the notice's promises reach a person.

Two addresses are given to the public without the app being able to see whether anyone
reads them: the privacy contact of the notice (NEWSLETTER_CONTROLLER_CONTACT, else the
sender address, often a `noreply@`), and the `mailto:` unsubscribe of every message's
List-Unsubscribe (read by the app only when it polls the bounce mailbox). The rules are
in compliance.py ("Notice and plumbing"); this module applies them to the live
configuration for the admin's dashboard and for the log of `flask worker` and
`flask run` at start.
"""

from __future__ import annotations

import logging

from flask import current_app

from . import compliance

log = logging.getLogger(__name__)


def mailto_address() -> str:
    """The address of the List-Unsubscribe mailto every message advertises."""
    from .messages import unsubscribe_mailto  # the message builder's own rule, not a copy

    return unsubscribe_mailto("").removeprefix("mailto:").split("?", 1)[0]


def operator_warnings() -> list[str]:
    """Every warning for the live configuration, in plain words (needs an app context)."""
    from . import bounce_mailbox, records

    config = current_app.config
    found = []
    contact = records.notice_facts(config)["contact"]
    unread_contact = compliance.privacy_contact_unread(config, contact)
    if unread_contact:
        found.append(unread_contact)
    unread_mailto = compliance.unsubscribe_mailto_unread(
        config, mailto_address(), bounce_mailbox.configured()
    )
    if unread_mailto:
        found.append(unread_mailto)
    return found


def log_operator_warnings(app, process: str) -> list[str]:
    """Write every warning to the log of `process` at its start; returns them."""
    with app.app_context():
        found = operator_warnings()
    for warning in found:
        log.warning("%s: %s", process, warning)
    return found
