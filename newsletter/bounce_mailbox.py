"""Polling the bounce mailbox (IMAP or POP3, standard library only).

The mailbox is the one BOUNCE_ADDRESS delivers to (and where feedback loops send their
complaints). Each poll reads up to POLL_LIMIT messages, applies every report
(`bounces.process`), commits, and only then removes the messages from the server: a
crash in between leaves them in the mailbox, and the next poll sees them again; the
report's digest makes that second reading count nothing twice.

The same mailbox can take the List-Unsubscribe mailto requests (RFC 2369): point
NEWSLETTER_UNSUBSCRIBE_MAILTO at it. A message whose subject is "unsubscribe TOKEN"
(what the mailto link fills in) with a valid unsubscribe token is the consolidated
opt-out, exactly as the https link: erasure and an objection on every channel.

Other messages (auto-replies, spam): IMAP marks them seen and leaves them for a person
to read; POP3 has no flags, so they are deleted like the rest (only their number is
logged).
"""

from __future__ import annotations

import email
import email.header
import email.policy
import imaplib
import logging
import poplib
import re
from collections import Counter

from flask import current_app

from . import bounces, subscriptions, tokens
from .extensions import db

log = logging.getLogger(__name__)

_UNSUBSCRIBE_SUBJECT = re.compile(r"\bunsubscribe\s+([A-Za-z0-9_\-.]{10,200})", re.IGNORECASE)
POLL_LIMIT = 200  # messages per poll: a huge backlog is worked off over several polls
UNREADABLE = "unreadable"


class MailboxError(Exception):
    """The mailbox cannot be reached or refused us; the text says why (no secrets)."""


def configured() -> bool:
    """Is a bounce mailbox configured (BOUNCE_MAILBOX_PROTOCOL and _HOST)?"""
    config = current_app.config
    return bool(config.get("BOUNCE_MAILBOX_PROTOCOL") and config.get("BOUNCE_MAILBOX_HOST"))


def poll_mailbox() -> dict[str, int]:
    """Read, apply, commit, then remove; returns the number of messages per outcome.

    Commits itself (like the sending loop): the messages may leave the server only
    once their effect is committed.
    """
    if not configured():
        return {}
    protocol = str(current_app.config["BOUNCE_MAILBOX_PROTOCOL"]).lower()
    mailbox = {"imap": ImapMailbox, "pop3": Pop3Mailbox}.get(protocol)
    if mailbox is None:
        raise MailboxError(f"BOUNCE_MAILBOX_PROTOCOL must be imap or pop3, not {protocol!r}.")
    counts: Counter[str] = Counter()
    with mailbox(current_app.config) as box:
        handled, unreadable = [], []
        for key in box.keys()[:POLL_LIMIT]:
            outcome = _handle(box.fetch(key), protocol)
            counts[outcome] += 1
            (unreadable if outcome == UNREADABLE else handled).append(key)
        db.session.commit()
        box.finish(handled, unreadable)
    if counts:
        log.info("bounce mailbox: %s", dict(counts))
    return dict(counts)


def _handle(raw: bytes, source: str) -> str:
    try:
        return bounces.process(raw, source)
    except bounces.ReportError:
        return _mailto_unsubscribe(raw, source)


def _mailto_unsubscribe(raw: bytes, source: str) -> str:
    """An "unsubscribe TOKEN" mail (List-Unsubscribe mailto): opt out; else unreadable."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    try:
        message = email.message_from_bytes(head, policy=email.policy.compat32)
        subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
    except Exception:  # untrusted input: an unreadable subject is no request
        return UNREADABLE
    found = _UNSUBSCRIBE_SUBJECT.search(subject)
    if not found:
        return UNREADABLE
    evidence = subscriptions.Evidence(source=f"List-Unsubscribe mailto ({source})")
    try:
        subscriptions.unsubscribe_all(found.group(1), evidence)
    except tokens.InvalidTokenError:
        return UNREADABLE
    return "unsubscribed"


def _settings(config, ssl_port: int, plain_port: int) -> tuple[str, int, bool, float]:
    use_ssl = config["BOUNCE_MAILBOX_SSL"]
    port = config["BOUNCE_MAILBOX_PORT"] or (ssl_port if use_ssl else plain_port)
    return config["BOUNCE_MAILBOX_HOST"], port, use_ssl, config["MAIL_TIMEOUT"]


class ImapMailbox:
    """IMAP4rev1 (RFC 3501): unseen messages of one folder, read with BODY.PEEK."""

    def __init__(self, config):
        self.config = config
        self.connection: imaplib.IMAP4 | None = None

    def __enter__(self) -> ImapMailbox:
        host, port, use_ssl, timeout = _settings(self.config, 993, 143)
        cls = imaplib.IMAP4_SSL if use_ssl else imaplib.IMAP4
        try:
            self.connection = cls(host, port, timeout=timeout)
            self.connection.login(
                self.config["BOUNCE_MAILBOX_USERNAME"] or "",
                self.config["BOUNCE_MAILBOX_PASSWORD"] or "",
            )
            self._ok(self.connection.select(self.config["BOUNCE_MAILBOX_FOLDER"]))
        except (OSError, imaplib.IMAP4.error) as exc:
            self.__exit__(None, None, None)
            raise MailboxError(f"IMAP {host}:{port}: {exc.__class__.__name__}") from exc
        return self

    @staticmethod
    def _ok(response):
        typ, data = response
        if typ != "OK":
            raise imaplib.IMAP4.error(f"server answered {typ}")
        return data

    def keys(self) -> list[bytes]:
        """UIDs of the unseen messages."""
        data = self._ok(self.connection.uid("SEARCH", None, "UNSEEN"))
        return data[0].split() if data and data[0] else []

    def fetch(self, uid: bytes) -> bytes:
        """The raw message, without marking it seen (BODY.PEEK)."""
        data = self._ok(self.connection.uid("FETCH", uid, "(BODY.PEEK[])"))
        for item in data:
            if isinstance(item, tuple):
                return item[1]
        return b""

    def finish(self, handled: list[bytes], unreadable: list[bytes]) -> None:
        """Delete what was handled, mark the rest seen."""
        for uid in handled:
            self._ok(self.connection.uid("STORE", uid, "+FLAGS", r"(\Deleted)"))
        for uid in unreadable:
            self._ok(self.connection.uid("STORE", uid, "+FLAGS", r"(\Seen)"))
        if handled:
            self._ok(self.connection.expunge())

    def __exit__(self, *exc_info) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.logout()
        except (OSError, imaplib.IMAP4.error):
            connection.shutdown()


class Pop3Mailbox:
    """POP3 (RFC 1939): every message; DELE takes effect at QUIT, after the commit."""

    def __init__(self, config):
        self.config = config
        self.connection: poplib.POP3 | None = None

    def __enter__(self) -> Pop3Mailbox:
        host, port, use_ssl, timeout = _settings(self.config, 995, 110)
        cls = poplib.POP3_SSL if use_ssl else poplib.POP3
        try:
            self.connection = cls(host, port, timeout=timeout)
            self.connection.user(self.config["BOUNCE_MAILBOX_USERNAME"] or "")
            self.connection.pass_(self.config["BOUNCE_MAILBOX_PASSWORD"] or "")
        except (OSError, poplib.error_proto) as exc:
            self._close()
            raise MailboxError(f"POP3 {host}:{port}: {exc.__class__.__name__}") from exc
        return self

    def keys(self) -> list[int]:
        """Message numbers, 1-based."""
        count, _size = self.connection.stat()
        return list(range(1, count + 1))

    def fetch(self, number: int) -> bytes:
        _response, lines, _octets = self.connection.retr(number)
        return b"\r\n".join(lines) + b"\r\n"

    def finish(self, handled: list[int], unreadable: list[int]) -> None:
        """Delete every message read (POP3 has no "seen" flag); QUIT commits it."""
        for number in [*handled, *unreadable]:
            self.connection.dele(number)
        self.connection.quit()
        self.connection = None

    def _close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()  # no QUIT: the server keeps every message (RFC 1939 6)

    def __exit__(self, *exc_info) -> None:
        self._close()
