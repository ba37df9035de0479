"""Admin accounts: create one, check a password. Passwords are hashed with argon2id."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from .addresses import InvalidAddressError, normalise
from .clock import utcnow
from .extensions import db
from .models import AdminUser

MIN_PASSWORD_LENGTH = 12
# The most common passwords of breach lists that are long enough to pass the length test.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "qwertyuiopas",
        "passwordpassword",
        "password1234",
        "password12345",
        "administrator",
        "adminadminadmin",
        "letmeinletmein",
        "iloveyou1234",
        "qwerty123456",
        "welcome12345",
        "changeme1234",
    }
)

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when no account matches, so that a wrong address costs as long as a wrong
    password. Made on first use, not at import: an argon2id hash takes 64 MiB for a
    moment, which every process that imports this module (each worker, each command)
    would otherwise carry as its peak memory."""
    return _hasher.hash("no such admin: timing equaliser")


class AdminError(ValueError):
    """The account cannot be created as asked; the message says why."""


def password_problem(password: str, email: str = "") -> str | None:
    """Why this password is too weak, or None when it is acceptable."""
    if not password or not password.strip():
        return "The password is empty."
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters."
    if len(set(password)) < 5:
        return "The password repeats too few different characters."
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        return "This password is on lists of common passwords; choose another."
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in lowered:
        return "The password must not contain the account's address."
    return None


def create_admin(email: str, password: str) -> AdminUser:
    """Add an admin account (flushed). Raises AdminError for a bad address or password."""
    try:
        address = normalise(email)
    except InvalidAddressError as exc:
        raise AdminError(f"Not a valid email address: {exc}") from exc
    problem = password_problem(password, address)
    if problem:
        raise AdminError(problem)
    if db.session.scalar(select(AdminUser).where(AdminUser.email == address)):
        raise AdminError(f"An admin with the address {address} exists already.")
    admin = AdminUser(email=address, password_hash=_hasher.hash(password))
    db.session.add(admin)
    db.session.flush()
    return admin


def authenticate(email: str, password: str) -> AdminUser | None:
    """The admin with this address and password, or None (same cost either way).

    Records the login time and upgrades an outdated hash (flushed, not committed).
    """
    try:
        address = normalise(email)
    except InvalidAddressError:
        address = ""
    admin = db.session.scalar(select(AdminUser).where(AdminUser.email == address))
    try:
        _hasher.verify(admin.password_hash if admin else _dummy_hash(), password or "")
    except (VerificationError, InvalidHashError):
        return None
    if admin is None:
        return None
    if _hasher.check_needs_rehash(admin.password_hash):
        admin.password_hash = _hasher.hash(password)
    admin.last_login_at = utcnow()
    db.session.flush()
    return admin


def admin_count() -> int:
    """How many admin accounts exist (the login page explains how to create the first)."""
    return db.session.scalar(select(func.count()).select_from(AdminUser)) or 0
