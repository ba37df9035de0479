"""The built-in outbox as a transport: no SMTP server, messages are kept in the database."""

from __future__ import annotations

from ... import mailer
from . import ACCEPTED, Outcome


class OutboxTransport:
    """No SMTP server: messages are kept in the outbox, committed one by one."""

    flush_every = 1

    def send(self, sender: str, recipient: str, subject: str, raw: bytes, tag) -> list[Outcome]:
        mailer.store_in_outbox(sender, recipient, subject, raw)
        return [Outcome(tag, ACCEPTED)]

    def flush(self) -> list[Outcome]:
        return []

    def close(self) -> None:
        pass
