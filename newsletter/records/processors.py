"""Processors and recipients (Art. 30(1)(d)-(e)), from the configuration."""

from __future__ import annotations

from urllib.parse import urlsplit

from .. import compliance
from .core import LOOPBACK, Processor

# --- processors and recipients -----------------------------------------------------------


def processors(config) -> list[Processor]:
    """The configured processors, then every server of the configuration that holds or
    receives personal data and is not among them (matched by `host`)."""
    listed = []
    for entry in config["PROCESSORS"]:
        listed.append(
            Processor(
                name=entry["name"],
                purpose=entry["purpose"],
                country=entry["country"],
                source="NEWSLETTER_PROCESSORS",
                safeguard=entry.get("safeguard"),
                host=entry.get("host"),
                transfer=compliance.transfer_safeguard(entry["country"], entry.get("safeguard")),
            )
        )
    hosts = {(p.host or "").lower() for p in listed}
    for server in _servers(config):
        if server.host.lower() not in hosts:
            listed.append(server)
    return listed


def _servers(config) -> list[Processor]:
    database = urlsplit(config["SQLALCHEMY_DATABASE_URI"])
    limits = urlsplit(config["RATELIMIT_STORAGE_URI"])
    # (in use, host, role, what it receives, the variable that names it)
    candidates = [
        (
            config.get("MAIL_SERVER"),
            config.get("MAIL_SERVER"),
            "SMTP relay",
            "receives every mail (address, name, message) and delivers it",
            "NEWSLETTER_MAIL_SERVER",
        ),
        (
            config.get("BOUNCE_MAILBOX_PROTOCOL") and config.get("BOUNCE_MAILBOX_HOST"),
            config.get("BOUNCE_MAILBOX_HOST"),
            "Bounce mailbox",
            "receives bounce reports and complaints (they name the recipient's address)",
            "NEWSLETTER_BOUNCE_MAILBOX_HOST",
        ),
        (
            not database.scheme.startswith("sqlite") and is_remote(database.hostname),
            database.hostname,
            "Database server",
            "stores all the data listed in this record",
            "NEWSLETTER_SQLALCHEMY_DATABASE_URI",
        ),
        (
            limits.scheme != "memory" and is_remote(limits.hostname),
            limits.hostname,
            "Rate-limit store",
            "keeps request counters keyed by client IP address",
            "NEWSLETTER_RATELIMIT_STORAGE_URI",
        ),
    ]
    return [_server(host, *rest) for used, host, *rest in candidates if used]


def is_remote(host: str | None) -> bool:
    return bool(host) and host.lower() not in LOOPBACK


def _server(host: str, kind: str, purpose: str, key: str) -> Processor:
    if not is_remote(host):
        return Processor(
            name=f"{kind} on this machine ({host})",
            purpose=purpose,
            country="this machine",
            source=key,
            host=host,
            note="run with the app: a processor only if another company runs this machine",
        )
    return Processor(
        name=f"{kind} {host}",
        purpose=purpose,
        country="not stated",
        source=key,
        host=host,
        note=(
            "if another company runs this server, add it to NEWSLETTER_PROCESSORS with its "
            f'country and "host": "{host}" (then the transfer check is made)'
        ),
    )


def recipients(found: list[Processor]) -> list[str]:
    """Who receives personal data (Art. 30(1)(d))."""
    return [
        "the organisation's staff with an admin account (every access is in the audit log)",
        *(f"{p.name}: {p.purpose}" for p in found),
        "each subscriber's own mailbox provider, for the messages addressed to them",
        "the organisation's other systems holding an API token, which may record and check "
        "objections (the objection register)",
        "the supervisory authority, on request",
        "nobody else: the list is not sold, rented or shared for other companies' purposes",
    ]
