"""Email addresses: validation, normalisation and the keyed hash of the suppression list."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

from email_validator import EmailNotValidError, validate_email
from flask import current_app

from .extensions import db
from .models import Setting


class InvalidAddressError(ValueError):
    """The text is not a deliverable-looking email address; the message says why."""


def normalise(raw: str) -> str:
    """Return the canonical form of an address, or raise InvalidAddressError.

    Unicode is NFKC-folded first (full-width letters, ligatures), whitespace trimmed,
    and the whole address lower-cased, so "  Jan@Example.ORG", "jan@EXAMPLE.org" and
    their full-width twin are one person for the suppression list.
    """
    if not isinstance(raw, str):
        raise InvalidAddressError("An email address is required.")
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        raise InvalidAddressError("An email address is required.")
    if any(ch in text for ch in "\r\n\0") or len(text) > 320:
        raise InvalidAddressError("This is not a valid email address.")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddressError(str(exc)) from exc
    return result.normalized.lower()


def _suppression_key() -> bytes:
    """The HMAC key of the suppression list; it never rotates with SECRET_KEY."""
    cache = current_app.extensions.setdefault("newsletter", {})
    if "suppression_key" in cache:
        return cache["suppression_key"]
    configured = current_app.config.get("SUPPRESSION_KEY")
    if configured:
        key = configured.encode()
    else:
        row = db.session.get(Setting, "suppression_key")
        if row is None:  # installed by the first migration; this is a safety net
            row = Setting(name="suppression_key", value=secrets.token_hex(32))
            db.session.add(row)
            db.session.flush()
            return row.value.encode()  # not cached until it is known to be committed
        key = row.value.encode()
    cache["suppression_key"] = key
    return key


def address_hash(normalised: str) -> str:
    """HMAC-SHA256 of a normalised address under the suppression key (hex)."""
    return hmac.digest(_suppression_key(), normalised.encode(), hashlib.sha256).hex()
