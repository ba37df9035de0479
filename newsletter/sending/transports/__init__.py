"""Transports: what hands a finished message to the world, and what it answers.

A transport is anything with `send`, `send_group`, `flush` and `close` (`Transport`);
it answers with neutral `Outcome`s, never with the exceptions of its protocol library,
so the engine records every transport's answers the same way. Which transport runs is
decided here and only here (`transport_name`): SMTP when MAIL_SERVER is set, the
built-in outbox otherwise. Adding a transport (an HTTP API, a pickup directory) is a
module in this package and one entry in `TRANSPORTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

ACCEPTED = "accepted"
REFUSED_PERMANENTLY = "refused permanently"  # SMTP 5xx: the message fails at once
REFUSED_TEMPORARILY = "refused temporarily"  # SMTP 4xx: tried again later
UNKNOWN = "unknown"  # no answer (a lost connection): tried again later


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message handed to a transport (`tag` names it).

    `code` and `text` are the server's reply for a refusal; `text` is as the server
    wrote it and may quote the recipient, so it is stored only through
    `compliance.smtp_reply_for_storage` with the addresses in `quoted`. For UNKNOWN,
    `text` says what happened (e.g. the exception's name).
    """

    tag: object
    kind: str
    code: int | None = None
    text: str = ""
    quoted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Handoff:
    """One finished message for `Transport.send_group`: envelope, subject, bytes, tag."""

    sender: str
    recipient: str
    subject: str
    raw: bytes
    tag: object


class Transport(Protocol):
    """A messenger for finished messages."""

    # Write the results after this many messages (1: the outbox, committed one by
    # one; 0: once per batch).
    flush_every: int

    # How many messages `send_group` hands over in one write now (1: one at a time).
    # The engine re-checks that many recipients together right before it.
    group: int

    def send(self, sender: str, recipient: str, subject: str, raw: bytes, tag) -> list[Outcome]:
        """Hand one message over; the outcomes known so far (maybe of earlier ones)."""

    def send_group(self, handoffs: list[Handoff]) -> list[Outcome]:
        """Hand these messages over together (at most `group`); as `send`."""

    def flush(self) -> list[Outcome]:
        """Wait for the outcomes of every message handed over and not yet answered."""

    def close(self) -> None:
        """Let go of the connection, if any."""


def one_at_a_time(transport: Transport, handoffs: list[Handoff]) -> list[Outcome]:
    """`send_group` for a transport that hands messages over one by one (`send` each)."""
    outcomes: list[Outcome] = []
    for h in handoffs:
        outcomes += transport.send(h.sender, h.recipient, h.subject, h.raw, h.tag)
    return outcomes


def _outbox(config: Mapping) -> Transport:
    from .outbox import OutboxTransport

    return OutboxTransport()


def _smtp(config: Mapping) -> Transport:
    from .smtp import SmtpTransport

    return SmtpTransport(config)


TRANSPORTS: dict[str, Callable[[Mapping], Transport]] = {"outbox": _outbox, "smtp": _smtp}


def transport_name(config: Mapping) -> str:
    """The one decision on how mail leaves: "smtp" when MAIL_SERVER is set, else "outbox"."""
    return "smtp" if config.get("MAIL_SERVER") else "outbox"


def make_transport(config: Mapping | None = None) -> Transport:
    """The transport the configuration asks for (the current app's by default)."""
    if config is None:
        from flask import current_app

        config = current_app.config
    return TRANSPORTS[transport_name(config)](config)
