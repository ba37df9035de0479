"""API tokens: created, scoped and revoked by name (objection register, subscribers,
campaigns, topics; docs/API.md lists what each scope allows).

A token is shown once, when created; only its SHA-256 hash is stored, so a copy of the
database does not hand out working tokens. (A fast hash is enough: the token is 256
random bits, not a password.)
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select

from .clock import utcnow
from .extensions import db
from .models import ApiToken

READ_OBJECTIONS = "objections:read"
WRITE_OBJECTIONS = "objections:write"
WRITE_BOUNCES = "bounces:write"  # POST /inbound/bounces (newsletter.views.inbound)
READ_SUBSCRIBERS = "subscribers:read"
WRITE_SUBSCRIBERS = "subscribers:write"
READ_CAMPAIGNS = "campaigns:read"
WRITE_CAMPAIGNS = "campaigns:write"
READ_TOPICS = "topics:read"
SCOPES = (
    READ_OBJECTIONS,
    WRITE_OBJECTIONS,
    WRITE_BOUNCES,
    READ_SUBSCRIBERS,
    WRITE_SUBSCRIBERS,
    READ_CAMPAIGNS,
    WRITE_CAMPAIGNS,
    READ_TOPICS,
)
# Reading the topics (their slugs are needed to sign someone up or to create a campaign,
# and they are no personal data) comes with any subscriber or campaign scope.
IMPLIED = {
    READ_TOPICS: {READ_SUBSCRIBERS, WRITE_SUBSCRIBERS, READ_CAMPAIGNS, WRITE_CAMPAIGNS},
}
_PREFIX = "nlt_"  # recognisable in a leaked-secrets scan


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; the message says why."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(name: str, scopes: list[str]) -> tuple[ApiToken, str]:
    """Create a named token with the given scopes; returns the row and the secret.

    The secret is returned only here: it is never stored and cannot be shown again.
    """
    name = (name or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise TokenError("Name the token with letters, digits, dots, dashes or underscores.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise TokenError(f"Choose scopes among {', '.join(SCOPES)} (got {unknown or 'none'}).")
    if db.session.scalar(select(ApiToken.id).where(ApiToken.name == name)):
        raise TokenError(f"A token named {name!r} exists already; revoke it or pick another name.")
    secret = _PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=_digest(secret), scopes=sorted(set(scopes)))
    db.session.add(row)
    db.session.flush()
    return row, secret


def revoke_token(name: str) -> ApiToken:
    """Revoke the token with this name (idempotent); raises TokenError if there is none."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise TokenError(f"No token named {name!r}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.flush()
    return row


def list_tokens() -> list[ApiToken]:
    """Every token, newest first (revoked ones included, for the record)."""
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))


def authenticate(secret: str | None) -> ApiToken | None:
    """The live token matching this secret, or None (unknown, revoked or empty)."""
    if not secret:
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = utcnow()
    return row


def has_scope(token: ApiToken, scope: str) -> bool:
    """Does this token carry the scope (itself, or one that implies it: `IMPLIED`)?"""
    held = set(token.scopes or [])
    return scope in held or bool(held & IMPLIED.get(scope, set()))
