"""The start-up checks of the configuration: each refuses to start with a message that
names the variable to fix (called by `config.load_config`)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import Flask

from .links import is_loopback_url

log = logging.getLogger("newsletter.config")

CATALOGUES = ("nl", "fr", "en")  # the languages newsletter/translations has


class ConfigurationError(click.ClickException, RuntimeError):
    """A setting the app cannot start with; the message says what to change.

    A ClickException, so that `flask run`, `flask worker` and the other commands print
    "Error: <the message>" and exit 1 instead of a traceback; under gunicorn the worker
    fails to boot with the message in the log.
    """


def check_base_url(base: str, mail_server: str | None) -> None:
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


def require_secret_key(app: Flask) -> None:
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


def require_processor_list(processors) -> None:
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


def check_languages_and_zone(config) -> None:
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
