"""The built-in outbox as a transport: no SMTP server, messages are kept in the database."""

from __future__ import annotations

from ... import mailer
from . import ACCEPTED, Handoff, Outcome, one_at_a_time


class OutboxTransport:
    """No SMTP server: messages are kept in the outbox, committed one by one."""

    flush_every = 1
    group = 1  # each message is committed with its outbox row

    def send(self, sender: str, recipient: str, subject: str, raw: bytes, tag) -> list[Outcome]:
        mailer.store_in_outbox(sender, recipient, subject, raw)
        return [Outcome(tag, ACCEPTED)]

    def send_group(self, handoffs: list[Handoff]) -> list[Outcome]:
        return one_at_a_time(self, handoffs)

    def flush(self) -> list[Outcome]:
        return []

    def close(self) -> None:
        pass
