"""The objection register (Belgian DPA decision 19/2021; GDPR Art. 21(2)-(3)).

One opt-out stops all marketing, on every channel. `Suppression` rows, one per
(address hash, channel), are the register; the business's other tools (the shop, the
call centre, the post room) record and consult it through the API in views/api.py. An
unsubscribe-from-all link in any mail writes the same rows for every channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from . import compliance, subscriptions
from .addresses import address_hash, normalise
from .clock import utcnow
from .extensions import db
from .models import (
    Channel,
    ConsentEvent,
    ConsentKind,
    RequestKind,
    RightsRequest,
    Subscriber,
    SuppressionReason,
)


class InvalidObjectionError(ValueError):
    """The request cannot be recorded as sent; the message says what to fix."""


@dataclass(frozen=True)
class Recorded:
    """What an objection request recorded."""

    channels: list[str]
    newly_recorded: list[str]
    recorded_at: datetime


def parse_channels(value) -> tuple[str, ...]:
    """Validate a `channels` field: a non-empty list of known channels, or absent (None)."""
    if value is None:
        return compliance.objection_channels(None)
    if not isinstance(value, list) or not value:
        raise InvalidObjectionError(
            f"'channels' must be a non-empty list among {', '.join(Channel.ALL)}, or left out "
            "to object on every channel."
        )
    unknown = [c for c in value if c not in Channel.ALL]
    if unknown:
        raise InvalidObjectionError(
            f"Unknown channel(s) {unknown!r}: use {', '.join(Channel.ALL)}."
        )
    return compliance.objection_channels(value)


def record_objection(email: str, channels, via: str) -> Recorded:
    """Record an objection to marketing on the given channels (None: all of them).

    An objection on email is an opt-out: a subscriber with this address is erased
    exactly as by the unsubscribe-from-all link. The request is logged as a rights
    request and the objection as a consent event, both keyed by the address hash only.
    Raises InvalidAddressError or InvalidObjectionError.
    """
    address = normalise(email)
    wanted = parse_channels(channels)
    digest = address_hash(address)
    before = compliance.objected_channels(digest)
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == address))
    evidence = subscriptions.Evidence(source=f"objection ({via})"[:200])
    if subscriber is not None and Channel.EMAIL in wanted:
        subscriptions.erase(subscriber, SuppressionReason.OBJECTION, wanted, evidence)
    else:
        subscriptions.suppress(digest, SuppressionReason.OBJECTION, wanted)
    now = utcnow()
    db.session.add(
        ConsentEvent(
            subject_hash=digest,
            kind=ConsentKind.OBJECTION,
            occurred_at=now,
            source=evidence.source,
            detail={"channels": list(wanted)},
        )
    )
    db.session.add(
        RightsRequest(
            kind=RequestKind.OBJECTION,
            channel=via[:32],
            subject_hash=digest,
            requested_at=now,
            completed_at=now,
        )
    )
    db.session.flush()
    return Recorded(list(wanted), [c for c in wanted if c not in before], now)


def may_contact(email: str, channel) -> bool:
    """False when the person objected to marketing on this channel.

    True only means no objection is on record: the caller still needs its own lawful
    basis. Raises InvalidAddressError or InvalidObjectionError.
    """
    if channel not in Channel.ALL:
        raise InvalidObjectionError(f"'channel' must be one of {', '.join(Channel.ALL)}.")
    return not compliance.is_objected(address_hash(normalise(email)), channel)
