"""Configuration: the only module that reads the environment.

Order, later wins: the defaults below, `instance/config.py`, `NEWSLETTER_*` environment
variables (JSON-parsed where possible), then the overrides given to `create_app`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from flask import Flask

from . import config_checks
from .config_checks import CATALOGUES, ConfigurationError  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

# Languages and local time (issue 15; checked by `config_checks.check_languages_and_zone`).
LANGUAGE_DEFAULTS: dict[str, object] = {
    "LANGUAGES": ["nl", "fr", "en"],  # list[str]: offered to subscribers and admins
    "DEFAULT_LANGUAGE": "en",  # str: used where a recipient's language has no version
    "TIMEZONE": "Europe/Brussels",  # str (IANA zone): admins schedule in it; dates shown in it
}

DEFAULTS: dict[str, object] = {
    "SECRET_KEY": None,
    "SECRET_KEY_FALLBACKS": [],
    # HMAC key of the suppression list. Unset: generated once and kept in the database,
    # so that it never rotates with SECRET_KEY (see docs/COMPLIANCE.md).
    "SUPPRESSION_KEY": None,
    "BASE_URL": "http://127.0.0.1:5000",
    "SQLALCHEMY_DATABASE_URI": None,
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "MAIL_SERVER": None,
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": "newsletter@example.org",
    "MAIL_TIMEOUT": 30,
    "MAIL_EHLO_NAME": None,  # unset: the host part of MAIL_DEFAULT_SENDER (mailer.ehlo_name)
    # Flask-Mail would silently drop mail whenever app.testing; tests use a real server.
    "MAIL_SUPPRESS_SEND": False,
    "ORGANIZATION_NAME": "Demo Shop",
    "ORGANIZATION_ADDRESS": "Rue de l'Exemple 1, 1000 Brussels, Belgium",
    "PRIVACY_POLICY_URL": None,
    # Privacy-notice and Art. 30 record facts (docs/RECORD-OF-PROCESSING.md).
    "CONTROLLER_CONTACT": None,  # privacy contact; unset: the sender address
    "DPO_CONTACT": None,  # the data protection officer, if there is one
    "PROCESSORS": [],  # [{"name", "purpose", "country"}] (optional "safeguard", "host")
    # Domains that are the organisation's own beside BASE_URL's and the sender's (links to
    # them are not "another company" in a soft-opt-in campaign; issue 13).
    "OWN_DOMAINS": [],
    "RECONSENT_INTERVAL_DAYS": 730,
    "RECONSENT_GRACE_DAYS": 30,
    "CONFIRM_MAX_AGE_HOURS": 48,
    # Retention (SPEC rule 7, docs/RETENTION.md); every period is shown on /privacy.
    "CUSTOMER_BASIS_DAYS": 730,  # existing-customer basis lapses this long after a purchase
    "DELIVERY_RETENTION_DAYS": 90,  # per-recipient delivery records (then counts only)
    "AUDIT_RETENTION_DAYS": 365,
    "OUTBOX_RETENTION_DAYS": 30,
    "CONSENT_EVIDENCE_RETENTION_DAYS": 1826,  # consent proof of people who left
    "RIGHTS_REQUEST_RETENTION_DAYS": 1826,
    "SIGNUP_RATE_LIMIT": "10 per minute; 50 per hour",
    # Confirmation and re-consent pages per client IP (token guessing, scripted clicks).
    "LINK_RATE_LIMIT": "30 per minute; 300 per hour",
    "LOGIN_RATE_LIMIT": "5 per minute",  # admin login attempts per client IP
    "API_RATE_LIMIT": "120 per minute",
    "IMPORT_UPLOAD_FOLDER": None,  # uploads awaiting confirmation; None: instance/imports
    # Images uploaded in the admin (docs/MEDIA.md): where they are kept (a name in
    # media.STORAGES; "local" = MEDIA_FOLDER, unset: instance/media) and their limits.
    "MEDIA_STORAGE": "local",
    "MEDIA_FOLDER": None,
    "MEDIA_MAX_WIDTH": 1200,  # px; wider images are scaled down, keeping their aspect
    "MEDIA_MAX_PIXELS": 50_000_000,  # larger images are refused (decompression bombs)
    "MEDIA_MAX_UPLOAD_BYTES": 10_000_000,
    "CONFIRM_MAILS_PER_ADDRESS": 3,
    # A welcome mail after a first confirmation (system mail, with the preferences link).
    "WELCOME_MAIL": True,
    "SEND_RATE": 0,
    "SEND_BATCH_SIZE": 100,  # deliveries a worker claims at once (and may resend after a crash)
    "SEND_LEASE_SECONDS": 300,  # a claim's lease; an expired one is claimed again
    "UNSUBSCRIBE_MAILTO": None,  # List-Unsubscribe mailto; unset: unsubscribe@ sender's domain
    # Bounces and complaints (docs/RELIABILITY.md): VERP envelope sender, thresholds, inbox.
    "BOUNCE_ADDRESS": None,  # e.g. bounces@shop.example; mail goes out as bounces+TOKEN@...
    "BOUNCE_HARD_LIMIT": 1,  # hard bounces in a row that suppress an address
    "BOUNCE_SOFT_LIMIT": 3,  # soft (or hard) bounces in a row that suppress an address
    "BOUNCE_MAILBOX_PROTOCOL": None,  # "imap" or "pop3"; unset: no polling
    "BOUNCE_MAILBOX_HOST": None,
    "BOUNCE_MAILBOX_PORT": None,  # unset: 993/995 with SSL, 143/110 without
    "BOUNCE_MAILBOX_SSL": True,
    "BOUNCE_MAILBOX_USERNAME": None,
    "BOUNCE_MAILBOX_PASSWORD": None,
    "BOUNCE_MAILBOX_FOLDER": "INBOX",
    "DKIM_DOMAIN": None,
    "DKIM_SELECTOR": None,
    "DKIM_PRIVATE_KEY_PATH": None,
    # Reverse proxies in front of the app (nginx: 1). Their X-Forwarded-For/-Proto are
    # trusted that many hops deep, so rate limits and consent records see the real client.
    "TRUSTED_PROXIES": 0,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_SAMESITE": "Lax",  # Flask-Login's default is none at all
    "WTF_CSRF_TIME_LIMIT": None,
    "AUTO_UPGRADE_SQLITE": True,
    # `flask run` also sends the mail and runs the periodic jobs in its serving process
    # (newsletter/embedded.py, docs/SENDING.md); false leaves them to `flask worker`.
    "EMBEDDED_WORKER": True,
    **LANGUAGE_DEFAULTS,
    # Outgoing webhooks (newsletter/webhooks.py, docs/API.md).
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    "WEBHOOK_LOG_RETENTION_DAYS": 30,  # the delivery log (event kind, public id, status)
}


# The type of every setting that is not text, converted once when the configuration is
# loaded (`coerce_settings`), so no caller writes int(...), float(...) or `or 300`. A key
# not named here takes the type of its default (a bool, int, float or list default);
# None as a value means "unset" and falls back to the default. Optional keys (default
# None) stay None when unset.
TYPES: dict[str, type] = {
    "MAIL_PORT": int,
    "MAIL_TIMEOUT": float,
    "MAIL_USE_TLS": bool,
    "MAIL_USE_SSL": bool,
    "MAIL_SUPPRESS_SEND": bool,
    "RECONSENT_INTERVAL_DAYS": int,
    "RECONSENT_GRACE_DAYS": int,
    "CONFIRM_MAX_AGE_HOURS": int,
    "CUSTOMER_BASIS_DAYS": int,
    "DELIVERY_RETENTION_DAYS": int,
    "AUDIT_RETENTION_DAYS": int,
    "OUTBOX_RETENTION_DAYS": int,
    "CONSENT_EVIDENCE_RETENTION_DAYS": int,
    "RIGHTS_REQUEST_RETENTION_DAYS": int,
    "CONFIRM_MAILS_PER_ADDRESS": int,
    "SEND_RATE": float,  # messages per second for the whole installation; 0: no limit
    "SEND_BATCH_SIZE": int,
    "SEND_LEASE_SECONDS": float,
    "SEND_PROCESSES": int,  # `campaign send --wait`; unset: one per CPU
    "BOUNCE_HARD_LIMIT": int,
    "BOUNCE_SOFT_LIMIT": int,
    "BOUNCE_MAILBOX_PORT": int,
    "BOUNCE_MAILBOX_SSL": bool,
    "TRUSTED_PROXIES": int,
    "RATELIMIT_HEADERS_ENABLED": bool,
    "AUTO_UPGRADE_SQLITE": bool,
    "EMBEDDED_WORKER": bool,
    "SECRET_KEY_FALLBACKS": list,
    "PROCESSORS": list,
    "OWN_DOMAINS": list,
}
# Settings that may be left unset (None) although their type is not text.
OPTIONAL = {"SEND_PROCESSES", "BOUNCE_MAILBOX_PORT"}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _setting_type(key: str, default: object) -> type | None:
    if key in TYPES:
        return TYPES[key]
    for kind in (bool, int, float, list):  # bool first: a bool is an int too
        if isinstance(default, kind):
            return kind
    return None


def _convert(kind: type, value: object) -> object:
    """`value` as `kind`, or ValueError. Environment values arrive JSON-parsed where they
    could be ("300" is 300, "true" True), text otherwise."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | str) and str(value).strip().lower() in _TRUE | _FALSE:
            return str(value).strip().lower() in _TRUE
        raise ValueError("a yes/no value (true or false)")
    if kind is list:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else []
            except json.JSONDecodeError:
                raise ValueError("a JSON list") from None
        if isinstance(value, list | tuple):
            return list(value)
        raise ValueError("a JSON list")
    wanted = "a whole number" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(wanted)
    try:
        number = kind(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(wanted) from None
    if kind is int and isinstance(value, float) and value != number:
        raise ValueError(wanted)
    return number


def coerce_settings(config) -> None:
    """Convert every typed setting in place; refuse to start on a value of the wrong type,
    naming the variable (NEWSLETTER_SEND_RATE=abc is an error, not a crash mid-send)."""
    for key, default in ({key: None for key in TYPES} | DEFAULTS).items():
        kind = _setting_type(key, default)
        value = config.get(key)
        if isinstance(value, str) and not value.strip() and kind is not list:
            value = None  # NEWSLETTER_X= (empty): unset
        if kind is None:
            continue
        if value is None:
            config[key] = None if key in OPTIONAL else default
            continue
        try:
            config[key] = _convert(kind, value)
        except ValueError as error:
            raise ConfigurationError(
                f"NEWSLETTER_{key} is {value!r}, which is not {error}. Set it to a valid "
                f"value or leave it unset (default: {default!r})."
            ) from None


def instance_path() -> str | None:
    """NEWSLETTER_INSTANCE_PATH: the instance folder (database, secret key, config.py);
    None lets Flask choose (`instance/` beside the package)."""
    configured = os.environ.get("NEWSLETTER_INSTANCE_PATH")
    return str(Path(configured).expanduser().resolve()) if configured else None


def load_config(app: Flask, overrides: dict | None) -> None:
    """Fill `app.config` from defaults, instance file, environment and overrides."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("NEWSLETTER")
    if overrides:
        app.config.update(overrides)
    coerce_settings(app.config)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        db_path = Path(app.instance_path) / "newsletter.db"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_path}"
    app.config["SQLALCHEMY_DATABASE_URI"] = _psycopg_url(app.config["SQLALCHEMY_DATABASE_URI"])
    base = app.config["BASE_URL"].rstrip("/")
    app.config["BASE_URL"] = base
    config_checks.check_base_url(base, app.config["MAIL_SERVER"])
    config_checks.require_secret_key(app)
    app.config["SESSION_COOKIE_SECURE"] = base.startswith("https://")
    app.config["REMEMBER_COOKIE_SECURE"] = base.startswith("https://")
    config_checks.require_processor_list(app.config["PROCESSORS"])
    config_checks.check_languages_and_zone(app.config)


def _psycopg_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs (SQLAlchemy defaults to psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
