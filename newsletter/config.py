"""Configuration: the only module that reads the environment.

Order, later wins: the defaults below, `instance/config.py`, `NEWSLETTER_*` environment
variables (JSON-parsed where possible), then the overrides given to `create_app`.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import Flask

from .links import is_loopback_url

log = logging.getLogger(__name__)

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
}


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
