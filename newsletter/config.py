"""Configuration: the only module that reads the environment.

Order, later wins: the defaults below, `instance/config.py`, `NEWSLETTER_*` environment
variables (JSON-parsed where possible), then the overrides given to `create_app`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import Flask

from .links import is_loopback_url

log = logging.getLogger(__name__)

# Languages and local time (issue 15; checked by `_check_languages_and_zone`).
LANGUAGE_DEFAULTS: dict[str, object] = {
    "LANGUAGES": ["nl", "fr", "en"],  # list[str]: offered to subscribers and admins
    "DEFAULT_LANGUAGE": "en",  # str: used where a recipient's language has no version
    "TIMEZONE": "Europe/Brussels",  # str (IANA zone): admins schedule in it; dates shown in it
}
CATALOGUES = ("nl", "fr", "en")  # the languages newsletter/translations has

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
    _check_base_url(base, app.config["MAIL_SERVER"])
    _require_secret_key(app)
    app.config["SESSION_COOKIE_SECURE"] = base.startswith("https://")
    app.config["REMEMBER_COOKIE_SECURE"] = base.startswith("https://")
    _require_processor_list(app.config["PROCESSORS"])
    _check_languages_and_zone(app.config)


def _psycopg_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs (SQLAlchemy defaults to psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class ConfigurationError(click.ClickException, RuntimeError):
    """A setting the app cannot start with; the message says what to change.

    A ClickException, so that `flask run`, `flask worker` and the other commands print
    "Error: <the message>" and exit 1 instead of a traceback; under gunicorn the worker
    fails to boot with the message in the log.
    """


def _check_base_url(base: str, mail_server: str | None) -> None:
    """Links in mail are built from BASE_URL: it must be an absolute http(s) URL, and
    plain http only for this machine (SPEC: BASE_URL). Mail that leaves the machine with
    http links on another host would send people's unsubscribe tokens in clear text, and
    RFC 8058 one-click unsubscribe needs https: with an SMTP server set, refuse to start.
    """
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"NEWSLETTER_BASE_URL is {base!r}, which is not a web address. Set it to the "
            "address where people reach this app, starting with https://, for example\n"
            "  export NEWSLETTER_BASE_URL=https://news.example.org"
        )
    if parts.scheme == "https" or is_loopback_url(base):
        return
    if mail_server:
        raise ConfigurationError(
            f"NEWSLETTER_BASE_URL is {base}, a plain-http address on another machine, and "
            f"mail goes out through the SMTP server {mail_server} (NEWSLETTER_MAIL_SERVER). "
            "The links in that mail (unsubscribe, preferences) must be https. Put the app "
            "behind HTTPS and set, for example\n"
            f"  export NEWSLETTER_BASE_URL=https://{parts.netloc}\n"
            "Plain http is allowed only for this machine (127.0.0.1, localhost, [::1]), "
            "for a local trial or a local mail catcher. (RFC 8058: one-click unsubscribe "
            "needs an https URI.)"
        )
    log.warning(
        "NEWSLETTER_BASE_URL %s is plain http on another machine: messages with these links "
        "are refused by the send-time check. Use https, or a loopback address for a trial.",
        base,
    )


def _require_secret_key(app: Flask) -> None:
    """Refuse to start without a signing key where mail can leave the machine.

    In debug, testing, and the embedded default (no SMTP server: every mail stays in the
    built-in outbox) a random key is generated once and kept in the instance folder, so
    that a newcomer runs the app with nothing to set up. With a real SMTP server the key
    must be configured: several workers and machines must share it.
    """
    if app.config["SECRET_KEY"]:
        return
    development = app.debug or app.testing or os.environ.get("FLASK_DEBUG") in ("1", "true")
    if not (development or not app.config["MAIL_SERVER"]):
        raise ConfigurationError(
            "NEWSLETTER_SECRET_KEY is not set, and mail goes to a real SMTP server. Set it to a "
            "long random value, the same on every machine, for example:\n"
            "  export NEWSLETTER_SECRET_KEY="
            "$(python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()


_PROCESSOR_KEYS = {"name", "purpose", "country"}
_PROCESSOR_OPTIONAL = {"safeguard", "host"}


def _require_processor_list(processors) -> None:
    """Refuse to start when NEWSLETTER_PROCESSORS is not a list of processor objects.

    The list feeds the privacy notice and the record of processing (GDPR Art. 13(1)(e),
    30(1)(d)); a malformed entry would silently drop a processor from both.
    """
    example = '[{"name": "Mailjet", "purpose": "sends the newsletter", "country": "FR"}]'
    if not isinstance(processors, list):
        raise RuntimeError(
            f"NEWSLETTER_PROCESSORS must be a JSON list of processors, e.g. {example}; "
            f"got {processors!r}"
        )
    for number, entry in enumerate(processors, 1):
        keys = set(entry) if isinstance(entry, dict) else set()
        values = entry.values() if isinstance(entry, dict) else ()
        wrong = not isinstance(entry, dict) or not _PROCESSOR_KEYS <= keys
        wrong = wrong or bool(keys - _PROCESSOR_KEYS - _PROCESSOR_OPTIONAL)
        if wrong or not all(isinstance(v, str) and v.strip() for v in values):
            raise RuntimeError(
                f"NEWSLETTER_PROCESSORS entry {number} must be an object with the text "
                f'fields "name", "purpose" and "country" (optional: "safeguard", "host"), '
                f"e.g. {example}; got {entry!r}"
            )


def _check_languages_and_zone(config) -> None:
    """Refuse to start with a language we have no catalogue for, a default language not
    offered, or a time zone the system does not know (a wrong zone would silently send
    scheduled campaigns at the wrong hour)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    languages = config["LANGUAGES"]
    if isinstance(languages, str):  # NEWSLETTER_LANGUAGES=nl,fr
        languages = [part.strip() for part in languages.split(",") if part.strip()]
    if not isinstance(languages, list) or not languages:
        raise ConfigurationError(
            f'NEWSLETTER_LANGUAGES must be a list of languages, e.g. ["nl", "fr", "en"]; '
            f"got {languages!r}"
        )
    languages = [str(code).strip().lower() for code in languages]
    unknown = [code for code in languages if code not in CATALOGUES]
    if unknown:
        raise ConfigurationError(
            f"NEWSLETTER_LANGUAGES names {', '.join(unknown)}: this version has translations "
            f"for {', '.join(CATALOGUES)} only."
        )
    config["LANGUAGES"] = list(dict.fromkeys(languages))
    default = str(config["DEFAULT_LANGUAGE"] or "").strip().lower()
    if default not in config["LANGUAGES"]:
        raise ConfigurationError(
            f"NEWSLETTER_DEFAULT_LANGUAGE is {config['DEFAULT_LANGUAGE']!r}, which is not one of "
            f"NEWSLETTER_LANGUAGES ({', '.join(config['LANGUAGES'])})."
        )
    config["DEFAULT_LANGUAGE"] = default
    zone = config["TIMEZONE"]
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"NEWSLETTER_TIMEZONE is {zone!r}, which is not a time zone this system knows. "
            'Use an IANA name, e.g. "Europe/Brussels" or "Europe/Amsterdam".'
        ) from exc
    config.setdefault("BABEL_DEFAULT_TIMEZONE", str(zone))
