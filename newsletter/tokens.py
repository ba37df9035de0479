"""Every signed token of the product, one salt per purpose.

Tokens carry the subscriber's opaque public id, never the address. They are signed
with SECRET_KEY and still accepted under SECRET_KEY_FALLBACKS, so rotating the key
breaks no link already sent. Unsubscribe and preference tokens never expire.

The links of an admin's test send carry a token of their own purpose, `test`, and no
public id: `[link, language]` (link "unsubscribe" or "preferences"). Under its own salt
it can never be read as a real subscriber's link; its pages say that nothing was changed
(subscriptions.link_target, compliance.check_test_message).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from flask import current_app
from itsdangerous import (
    BadData,
    SignatureExpired,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)
from itsdangerous.encoding import base64_encode

from . import clock

CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
RECONSENT = "reconsent"
BOUNCE = "bounce"  # a delivery's id in its VERP envelope sender (newsletter.bounces)
EXPORT = "export"  # "download my data", mailed to the address (1 hour; issue 13)
ADDRESS = "address"  # confirm a new address (rectification, a new double opt-in)
TEST = "test"  # the inert links of a test send: [link, language], no subscriber
# The current address approves an address change before the new one is asked (1 hour).
ADDRESS_APPROVE = "address-approve"
# The web version of a campaign message: [campaign id, language], no subscriber (issue 16).
WEB_VERSION = "web-version"
# The campaign an unsubscribe link came from (`?c=` on it): [campaign id], for the
# per-campaign opt-out count; no subscriber (newsletter/campaign_figures.py).
CAMPAIGN_LINK = "campaign-link"
ADMIN_INVITE = "admin-invite"  # an invited admin sets a password (single use; admins.py)
PURPOSES = (
    CONFIRM,
    UNSUBSCRIBE,
    PREFERENCES,
    RECONSENT,
    BOUNCE,
    EXPORT,
    ADDRESS,
    TEST,
    ADDRESS_APPROVE,
    WEB_VERSION,
    CAMPAIGN_LINK,
    ADMIN_INVITE,
)
TIMED = (CONFIRM, RECONSENT, EXPORT, ADDRESS, ADDRESS_APPROVE, ADMIN_INVITE)  # links that expire


class InvalidTokenError(Exception):
    """Tampered, garbage or wrong-purpose token."""


class ExpiredTokenError(Exception):
    """A correctly signed token past its validity; `payload` is still readable."""

    def __init__(self, payload):
        super().__init__("expired")
        self.payload = payload


def _keys() -> list[str]:
    # itsdangerous signs with the last key and verifies with each, newest first.
    config = current_app.config
    return [*config["SECRET_KEY_FALLBACKS"], config["SECRET_KEY"]]


class _ClockSigner(TimestampSigner):
    """Timestamps from the product's one clock, so that frozen time applies to links."""

    def get_timestamp(self) -> int:
        return int(clock.utcnow().timestamp())


def _serializer(purpose: str, timed: bool):
    # Kept per purpose and key set: the sender signs two links per message.
    keys = _keys()
    cache = current_app.extensions.setdefault("newsletter", {}).setdefault("serializers", {})
    cache_key = (purpose, timed, tuple(keys))
    if cache_key not in cache:
        salt = f"newsletter.{purpose}"
        kwargs = {"digest_method": hashlib.sha256}
        if timed:
            made = URLSafeTimedSerializer(
                keys, salt=salt, signer=_ClockSigner, signer_kwargs=kwargs
            )
        else:
            made = URLSafeSerializer(keys, salt=salt, signer_kwargs=kwargs)
        cache[cache_key] = made
    return cache[cache_key]


class _PreparedSigner:
    """`URLSafeSerializer.dumps` with the signer made and its key derived once: `dumps`
    does both for every token, and the sender signs two links a message.

    A public id (letters, digits, `-` and `_`) or a delivery id is written as JSON
    directly and not offered to zlib (making the zlib stream alone cost more than the
    rest of the token): itsdangerous keeps the compressed form only when it is shorter,
    which it never is for a random id of 22 characters or a number, so their tokens are
    byte for byte those of `dumps`; a payload that zlib would shorten ("aaaa...") gets
    the uncompressed form, which `verify` reads the same (tests/test_fast_paths.py)."""

    def __init__(self, serializer: URLSafeSerializer):
        self.serializer = serializer
        self.signer = serializer.make_signer()
        self.key = self.signer.derive_key()
        self.separator = self.signer.sep
        self.digest = self.signer.algorithm.digest_method

    def dumps(self, payload) -> str:
        if type(payload) is str and _PLAIN_ID.fullmatch(payload):
            value = base64_encode(b'"' + payload.encode("ascii") + b'"')
        elif type(payload) is int:  # a delivery id (VERP): JSON writes its digits
            value = base64_encode(str(payload).encode("ascii"))
        else:
            value = self.serializer.dump_payload(payload)
        signature = base64_encode(hmac.digest(self.key, value, self.digest))
        return (value + self.separator + signature).decode("ascii")


_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # JSON writes it as it is, between quotes


def link_signer(purpose: str):
    """`sign` for one purpose of links that never expire, with the current keys looked up
    now rather than per call: the sender keeps one per prepared campaign."""
    if purpose not in PURPOSES or purpose in TIMED:
        raise ValueError(f"not a purpose of untimed links: {purpose!r}")
    return _untimed_signer(purpose).dumps


def _untimed_signer(purpose: str) -> _PreparedSigner:
    serializer = _serializer(purpose, timed=False)
    cache = current_app.extensions["newsletter"].setdefault("prepared_signers", {})
    prepared = cache.get(purpose)
    if prepared is None or prepared.serializer is not serializer:  # new purpose or keys
        prepared = cache[purpose] = _PreparedSigner(serializer)
    return prepared


def sign(purpose: str, payload) -> str:
    """Sign `payload` (JSON-serialisable) for one purpose."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    if purpose in TIMED:
        return _serializer(purpose, timed=True).dumps(payload)
    return _untimed_signer(purpose).dumps(payload)


def verify(purpose: str, token: str, max_age_seconds: int | None = None):
    """Return the payload, or raise InvalidTokenError / ExpiredTokenError."""
    timed = purpose in TIMED
    serializer = _serializer(purpose, timed)
    try:
        if timed:
            return serializer.loads(token, max_age=max_age_seconds)
        return serializer.loads(token)
    except SignatureExpired as exc:
        # The signature is good, only old: the payload is still trustworthy.
        raise ExpiredTokenError(serializer.load_payload(exc.payload)) from exc
    except (BadData, UnicodeError, ValueError, TypeError) as exc:
        raise InvalidTokenError(str(exc)) from exc
