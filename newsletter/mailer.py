"""System mail: hands finished messages to the transport the configuration chose
(`sending.transports`: SMTP or the built-in outbox), the same one campaigns use.

With no `MAIL_SERVER` configured every mail is stored in the `outbox_message` table (in
the same transaction as the change that caused it) and can be read with
`flask outbox list/show`. With a server, system mails leave only after the database
transaction that caused them commits (STYLE: mail after commit), through the SMTP
transport (Flask-Mail's MAIL_* settings; pipelined when the server offers it). Every
mail is DKIM-signed when DKIM is configured (system mails here,
campaign mail in messages.py), and the outbox keeps the signed bytes, exactly as they
would be sent.
"""

from __future__ import annotations

import email.policy
import logging
import smtplib
from email.message import EmailMessage
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from . import compliance
from .extensions import db
from .models import OutboxMessage
from .sending import signing, transports

log = logging.getLogger(__name__)

_PENDING_KEY = "newsletter.outgoing"


def uses_outbox() -> bool:
    """True when no SMTP server is configured: mail is kept, never sent."""
    return transports.transport_name(current_app.config) == "outbox"


def envelope_sender() -> str:
    """The bare address of the configured sender (MAIL_DEFAULT_SENDER may carry a name)."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    if isinstance(sender, list | tuple):
        sender = sender[1]
    return parseaddr(sender)[1]


def as_smtp_bytes(message: EmailMessage) -> bytes:
    """The message as sent on the wire: CRLF line ends (smtplib sends bytes as they are)."""
    return message.as_bytes(policy=email.policy.SMTP)


def store_in_outbox(sender: str, recipient: str, subject: str, raw: bytes) -> OutboxMessage:
    """Keep one message in the built-in outbox (flushed, committed by the caller)."""
    row = OutboxMessage(sender=sender, recipient=recipient, subject=subject[:500], raw=raw)
    db.session.add(row)
    db.session.flush()
    return row


def send_after_commit(message: EmailMessage) -> None:
    """Deliver a system mail once the current transaction commits (or drop it on rollback).

    In outbox mode it is stored right away, inside the transaction, so that it exists
    exactly when the change that caused it exists.
    """
    recipient = parseaddr(message["To"])[1]
    send_raw_after_commit(recipient, str(message["Subject"]), signed_bytes(message))


def signed_bytes(message: EmailMessage) -> bytes:
    """The message as sent: SMTP bytes, DKIM-signed when DKIM is configured."""
    raw = as_smtp_bytes(message)
    signer = signing.signer_from_config()
    return signer.sign(raw) if signer is not None else raw


def ehlo_name(config) -> str:
    """The name given in EHLO: MAIL_EHLO_NAME, else the host part of MAIL_DEFAULT_SENDER.

    smtplib's own default is this machine's FQDN, often a container id or `localhost`,
    which receiving servers hold against the mail; the sender's domain is what DKIM,
    SPF and the From address name.
    """
    if config.get("MAIL_EHLO_NAME"):
        return config["MAIL_EHLO_NAME"]
    sender = config["MAIL_DEFAULT_SENDER"]
    if isinstance(sender, list | tuple):
        sender = sender[1]
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return domain or "localhost"


def connect_smtp(config=None) -> smtplib.SMTP:
    """An open SMTP connection from the MAIL_* settings (Flask-Mail's names).

    Opened with smtplib directly: Flask-Mail's own connection sends nothing while
    TESTING, and the tests talk to a real server.
    """
    config = config or current_app.config
    cls = smtplib.SMTP_SSL if config["MAIL_USE_SSL"] else smtplib.SMTP
    connection = cls(
        config["MAIL_SERVER"],
        config["MAIL_PORT"],
        local_hostname=ehlo_name(config),
        timeout=config["MAIL_TIMEOUT"],
    )
    try:
        if config["MAIL_USE_TLS"]:
            connection.starttls()
        if config["MAIL_USERNAME"] and config["MAIL_PASSWORD"]:
            connection.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
    except Exception:
        connection.close()
        raise
    return connection


def send_raw_after_commit(recipient: str, subject: str, raw: bytes) -> None:
    """Like `send_after_commit`, for a finished message given as bytes (e.g. DKIM-signed).

    The bytes are sent exactly as given: re-serialising would break a signature.
    """
    if uses_outbox():
        store_in_outbox(envelope_sender(), recipient, subject, raw)
        return
    db.session.info.setdefault(_PENDING_KEY, []).append((recipient, raw))


def _deliver_pending(session: Session) -> None:
    """Hand the system mails of a committed transaction to the configured transport."""
    pending = session.info.pop(_PENDING_KEY, [])
    if not pending:
        return
    transport = transports.make_transport()  # only SMTP queues (the outbox stores at once)
    outcomes = []
    try:
        for recipient, raw in pending:
            outcomes += transport.send(envelope_sender(), recipient, "", raw, recipient)
        outcomes += transport.flush()
    finally:
        transport.close()
    for outcome in outcomes:
        if outcome.kind != transports.ACCEPTED:
            # The change is committed; the person can ask again (e.g. resubmit the form).
            # Servers quote the recipient in replies: no address reaches the log (Art. 17).
            reply = f"{outcome.code or ''} {outcome.text}".strip()
            reply = compliance.redact_address(reply, outcome.tag, *outcome.quoted)
            log.warning("system mail not delivered: %s: %s", outcome.kind, reply)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def install_session_hooks() -> None:
    """Deliver queued system mails after commit, drop them on rollback (idempotent)."""
    if not event.contains(Session, "after_commit", _deliver_pending):
        event.listen(Session, "after_commit", _deliver_pending)
        event.listen(Session, "after_soft_rollback", lambda s, prev: _drop_pending(s))
