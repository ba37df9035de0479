"""Admin accounts: create, invite, deactivate, check a password, two-factor codes.

Passwords are hashed with argon2id. Two roles (issue 16): an owner may do everything;
an editor composes and sends campaigns, manages topics and subscribers, but cannot
export, erase, manage admins or API tokens, or change the privacy records
(`views/admin/auth.owner_only`). Every admin that existed before roles is an owner
(migration 0010). TOTP secrets (RFC 6238, pyotp) are stored encrypted under a key
derived from SECRET_KEY (`_totp_cipher`), never logged.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import func, select

from . import tokens
from .addresses import InvalidAddressError, normalise
from .clock import utcnow
from .extensions import db
from .models import AdminUser

OWNER = "owner"
EDITOR = "editor"
ROLES = (OWNER, EDITOR)
INVITE_MAX_AGE_HOURS = 72
TOTP_ISSUER_FALLBACK = "Newsletter"
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


def _new_address(email: str) -> str:
    try:
        address = normalise(email)
    except InvalidAddressError as exc:
        raise AdminError(f"Not a valid email address: {exc}") from exc
    if db.session.scalar(select(AdminUser).where(AdminUser.email == address)):
        raise AdminError(f"An admin with the address {address} exists already.")
    return address


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AdminError(f"The role must be one of: {', '.join(ROLES)}.")


def create_admin(email: str, password: str, role: str = OWNER) -> AdminUser:
    """Add an admin account (flushed). Raises AdminError for a bad address or password."""
    _check_role(role)
    address = _new_address(email)
    problem = password_problem(password, address)
    if problem:
        raise AdminError(problem)
    admin = AdminUser(email=address, password_hash=_hasher.hash(password), role=role)
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
    usable = admin is not None and admin.password_hash and admin.is_active
    try:
        _hasher.verify(admin.password_hash if usable else _dummy_hash(), password or "")
    except (VerificationError, InvalidHashError):
        return None
    if not usable:
        return None
    if _hasher.check_needs_rehash(admin.password_hash):
        admin.password_hash = _hasher.hash(password)
    db.session.flush()
    return admin


def record_login(admin: AdminUser) -> None:
    """The admin is signed in (after the password and, if enrolled, the code)."""
    admin.last_login_at = utcnow()
    db.session.flush()


def admin_count() -> int:
    """How many admin accounts exist (the login page explains how to create the first)."""
    return db.session.scalar(select(func.count()).select_from(AdminUser)) or 0


# --- managing admins (issue 16) ------------------------------------------------------------


def all_admins() -> list[AdminUser]:
    """Every account, active ones first, in the order they were made."""
    return list(
        db.session.scalars(
            select(AdminUser).order_by(AdminUser.deactivated_at.is_not(None), AdminUser.id)
        )
    )


def by_email(email: str) -> AdminUser | None:
    """The account with this address (any spelling), or None."""
    try:
        address = normalise(email)
    except InvalidAddressError:
        return None
    return db.session.scalar(select(AdminUser).where(AdminUser.email == address))


def is_invited(admin: AdminUser) -> bool:
    """Invited, and the invitation's password not set yet."""
    return not admin.password_hash


def _password_fingerprint(admin: AdminUser) -> str:
    # Changes when a password is set: an invitation link works once.
    return hashlib.sha256(f"{admin.id}:{admin.password_hash}".encode()).hexdigest()[:24]


def invite_admin(email: str, role: str) -> tuple[AdminUser, str]:
    """Add an account without a password and return it with its invitation token
    (flushed). The caller mails the link; it expires after INVITE_MAX_AGE_HOURS and
    stops working once the password is set."""
    _check_role(role)
    admin = AdminUser(email=_new_address(email), password_hash="", role=role)
    db.session.add(admin)
    db.session.flush()
    return admin, invitation_token(admin)


def invitation_token(admin: AdminUser) -> str:
    """A (new) signed invitation for an invited account."""
    return tokens.sign(tokens.ADMIN_INVITE, [admin.id, _password_fingerprint(admin)])


def invited_admin(token: str) -> AdminUser:
    """The account an invitation link is for. Raises tokens.InvalidTokenError (tampered, used
    already, account deactivated) or tokens.ExpiredTokenError; changes nothing."""
    payload = tokens.verify(tokens.ADMIN_INVITE, token, INVITE_MAX_AGE_HOURS * 3600)
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        raise tokens.InvalidTokenError("malformed payload")
    admin = db.session.get(AdminUser, payload[0])
    if admin is None or not admin.is_active or payload[1] != _password_fingerprint(admin):
        raise tokens.InvalidTokenError("this invitation was used already or withdrawn")
    return admin


def accept_invitation(token: str, password: str) -> AdminUser:
    """Set the invited account's password (flushed); the link is then spent."""
    admin = invited_admin(token)
    problem = password_problem(password, admin.email)
    if problem:
        raise AdminError(problem)
    admin.password_hash = _hasher.hash(password)
    db.session.flush()
    return admin


def change_password(admin: AdminUser, current: str, new: str) -> None:
    """Change one's own password: the current one is required (flushed)."""
    try:
        _hasher.verify(admin.password_hash, current or "")
    except (VerificationError, InvalidHashError):
        raise AdminError("The current password is wrong.") from None
    problem = password_problem(new, admin.email)
    if problem:
        raise AdminError(problem)
    admin.password_hash = _hasher.hash(new)
    db.session.flush()


def _active_owners() -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(AdminUser)
            .where(AdminUser.role == OWNER, AdminUser.deactivated_at.is_(None))
        )
        or 0
    )


def deactivate(admin: AdminUser, by: AdminUser | None) -> None:
    """Stop an account from signing in (flushed; kept for the audit log's sake).

    Refused for one's own account, and for the last active owner (nobody could manage
    admins any more)."""
    if by is not None and admin.id == by.id:
        raise AdminError("You cannot deactivate your own account.")
    if admin.deactivated_at is not None:
        raise AdminError("This account is deactivated already.")
    if admin.role == OWNER and _active_owners() <= 1:
        raise AdminError("This is the last owner: make another admin an owner first.")
    admin.deactivated_at = utcnow()
    db.session.flush()


# --- two-factor login (TOTP, RFC 6238) -------------------------------------------------------


def _totp_cipher() -> MultiFernet:
    """Fernet keys derived from SECRET_KEY (and its fallbacks, to read older secrets)."""
    config = current_app.config
    keys = [config["SECRET_KEY"], *reversed(config["SECRET_KEY_FALLBACKS"])]
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"totp:{k}".encode()).digest()))
            for k in keys
        ]
    )


def _secret(admin: AdminUser) -> str | None:
    if not admin.totp_secret:
        return None
    try:
        return _totp_cipher().decrypt(admin.totp_secret.encode()).decode()
    except InvalidToken:
        return None  # SECRET_KEY rotated without fallback: `flask admin reset-2fa`


def has_two_factor(admin: AdminUser) -> bool:
    return admin.totp_enabled_at is not None


def begin_enrolment(admin: AdminUser) -> str:
    """A new secret for the account, not active until a code is verified (flushed)."""
    if has_two_factor(admin):
        raise AdminError("Two-factor login is on already.")
    secret = pyotp.random_base32()
    admin.totp_secret = _totp_cipher().encrypt(secret.encode()).decode()
    db.session.flush()
    return secret


def enrolment_secret(admin: AdminUser) -> str | None:
    """The secret being enrolled (shown again until a code is verified)."""
    return None if has_two_factor(admin) else _secret(admin)


def provisioning_uri(admin: AdminUser, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads."""
    issuer = current_app.config.get("ORGANIZATION_NAME") or TOTP_ISSUER_FALLBACK
    return pyotp.TOTP(secret).provisioning_uri(name=admin.email, issuer_name=issuer)


def _code_step(admin: AdminUser, code: str) -> int | None:
    """The time step of a valid code (one step of clock drift allowed), or None."""
    secret = _secret(admin)
    code = "".join((code or "").split())
    if secret is None or not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(utcnow())
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def confirm_enrolment(admin: AdminUser, code: str) -> bool:
    """Switch two-factor login on when `code` matches the new secret (flushed)."""
    step = _code_step(admin, code)
    if step is None:
        return False
    admin.totp_enabled_at = utcnow()
    admin.totp_last_step = step
    db.session.flush()
    return True


def verify_code(admin: AdminUser, code: str) -> bool:
    """True for a current code not used before (a code works once; flushed)."""
    step = _code_step(admin, code)
    if step is None or (admin.totp_last_step is not None and step <= admin.totp_last_step):
        return False
    admin.totp_last_step = step
    db.session.flush()
    return True


def reset_two_factor(admin: AdminUser) -> None:
    """Switch two-factor login off (recovery: `flask admin reset-2fa EMAIL`)."""
    admin.totp_secret = None
    admin.totp_enabled_at = None
    admin.totp_last_step = None
    db.session.flush()
