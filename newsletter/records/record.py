"""The record itself (`build_record`) and the facts the privacy notice shows."""

from __future__ import annotations

from dataclasses import asdict
from urllib.parse import urlsplit

from sqlalchemy import select

from ..extensions import db
from ..mailer import envelope_sender
from ..models import Topic
from .core import Purpose, Record
from .processors import is_remote, processors, recipients
from .tables import categories

# --- the record ------------------------------------------------------------------------


def build_record(config) -> Record:
    """The whole record for the live configuration and database (topics)."""
    found = processors(config)
    tables, unclassified = categories(config)
    record = Record(
        controller=_controller(config),
        purposes=_purposes(),
        subjects=sorted({s for t in tables for s in t.subjects}),
        categories=tables,
        recipients=recipients(found),
        processors=found,
        security=_security(config),
    )
    record.warnings = _warnings(config, record, unclassified)
    return record


def _controller(config) -> dict[str, str]:
    contact = config.get("CONTROLLER_CONTACT")
    privacy = config.get("PRIVACY_POLICY_URL") or f"{config['BASE_URL']}/privacy"
    return {
        "name": config["ORGANIZATION_NAME"],
        "address": config["ORGANIZATION_ADDRESS"],
        "contact": contact or envelope_sender(),
        "contact_source": "NEWSLETTER_CONTROLLER_CONTACT"
        if contact
        else "the sender address: NEWSLETTER_CONTROLLER_CONTACT is unset",
        "dpo": config.get("DPO_CONTACT") or "none designated (NEWSLETTER_DPO_CONTACT unset)",
        "privacy_notice": privacy,
    }


def _purposes() -> list[Purpose]:
    topics = list(db.session.scalars(select(Topic).order_by(Topic.slug)))
    own = [t for t in topics if t.own_similar_products]
    found = [
        Purpose(
            f'Sending the list "{t.name}" ({t.slug}) by email',
            "consent, given by double opt-in (GDPR Art. 6(1)(a), 7; ePrivacy Art. 13(1))"
            + (
                "; or, for existing customers, the soft opt-in for the business's own similar "
                "products (ePrivacy Art. 13(2), Tw 11.7(3), KB 4-4-2003 art. 1; GDPR "
                "Art. 6(1)(f))"
                if t in own
                else ""
            ),
        )
        for t in topics
    ]
    return found + [
        Purpose(
            "Proving consent and honouring opt-outs and objections (consent evidence, "
            "suppression list, objection register)",
            "legal obligation (GDPR Art. 6(1)(c) with Art. 7(1) and 21(3))",
        ),
        Purpose(
            "Answering access and erasure requests, and keeping proof of the answer",
            "legal obligation (GDPR Art. 6(1)(c) with Art. 12, 15, 17)",
        ),
        Purpose(
            "Delivering the mail: bounces, complaints, retries, delivery counts",
            "legitimate interest in a working, reputable sender (GDPR Art. 6(1)(f))",
        ),
        Purpose(
            "Security: rate limits per IP address, the admin audit log, the breach log",
            "legal obligation and legitimate interest (GDPR Art. 5(2), 6(1)(c), 6(1)(f), "
            "32, 33(5))",
        ),
    ]


def _security(config) -> list[str]:
    https = config["BASE_URL"].startswith("https://")
    database = urlsplit(config["SQLALCHEMY_DATABASE_URI"]).scheme
    measures = [
        "Web pages and every link in mail over "
        + ("HTTPS" if https else "HTTP on this machine only (a trial: real mail needs HTTPS)"),
        _mail_transport(config),
        "DKIM signature on every mail (domain " + config["DKIM_DOMAIN"] + ")"
        if config.get("DKIM_DOMAIN")
        else "No DKIM signature configured (NEWSLETTER_DKIM_DOMAIN unset)",
        "Double opt-in; signup rate limit per IP address "
        f"({config['SIGNUP_RATE_LIMIT']}) and at most {config['CONFIRM_MAILS_PER_ADDRESS']} "
        "confirmation mails per address a day",
        "Links in mail are signed (HMAC, one salt per purpose) and carry an opaque id, "
        "never the address",
        "After an opt-out only a keyed hash of the address (HMAC-SHA256 under a separate "
        "key) remains; the address leaves every table"
        + (
            " and the database file's bytes (SQLite secure_delete, WAL checkpoint)"
            if database.startswith("sqlite")
            else " (PostgreSQL: the dead rows leave the files at the next VACUUM)"
        ),
        "Admins: argon2id password hashes, at least 12 characters; login rate limit per IP "
        f"address ({config['LOGIN_RATE_LIMIT']}); CSRF tokens on every form; session cookie "
        "HttpOnly, SameSite=Lax" + (", Secure" if https else ""),
        "Every admin access to personal data is written to the audit log, which never holds "
        "a subscriber's address",
        "API tokens are stored hashed, scoped and revocable",
        "Security headers on every page: Content-Security-Policy without inline scripts, "
        "frame-ancestors 'none', nosniff, no-referrer",
        "No tracking: no open pixel, links go to the author's addresses unchanged",
    ]
    return measures


def _mail_transport(config) -> str:
    if not config.get("MAIL_SERVER"):
        return "No SMTP server set: mail stays in the built-in outbox on this machine"
    if config.get("MAIL_USE_SSL"):
        return f"Mail to {config['MAIL_SERVER']} over SMTP with TLS (SMTPS)"
    if config.get("MAIL_USE_TLS"):
        return f"Mail to {config['MAIL_SERVER']} over SMTP with STARTTLS"
    return f"Mail to {config['MAIL_SERVER']} over SMTP WITHOUT encryption"


def _warnings(config, record: Record, unclassified: list[str]) -> list[str]:
    found = []
    if not config.get("CONTROLLER_CONTACT"):
        found.append(
            "The privacy contact is the sender address; if nobody reads it, set "
            "NEWSLETTER_CONTROLLER_CONTACT to a mailbox that is read (GDPR Art. 13(1)(a))."
        )
    if not config["PROCESSORS"]:
        found.append(
            "No processor is configured. If a hosting company runs the machine or the mail "
            "server, it is a processor: list it in NEWSLETTER_PROCESSORS (GDPR Art. 28, "
            "30(1)(d))."
        )
    for p in record.processors:
        if p.transfer and not p.safeguard:
            found.append(f"{p.name} ({p.country}): {p.transfer}.")
        elif p.country == "not stated":
            found.append(f"{p.name}: country not stated; {p.note}.")
    if config.get("MAIL_SERVER") and is_remote(config["MAIL_SERVER"]):
        if not (config.get("MAIL_USE_TLS") or config.get("MAIL_USE_SSL")):
            found.append(
                "Mail leaves for the SMTP relay unencrypted: set NEWSLETTER_MAIL_USE_TLS "
                "(GDPR Art. 32)."
            )
    found += [
        f"Table {name} is not classified in newsletter/records.py: say what it holds."
        for name in unclassified
    ]
    return found


def notice_facts(config) -> dict:
    """What the privacy notice must state from this record (GDPR Art. 13(1)(a), (b), (e),
    (f)): the privacy contact, the DPO (None when there is none), every processor and
    recipient, and the transfers outside the EEA with their safeguard."""
    found = processors(config)
    controller = _controller(config)
    return {
        "contact": controller["contact"],
        "dpo": config.get("DPO_CONTACT") or None,
        "processors": found,
        "transfers": [p for p in found if p.transfer],
    }


def as_dict(record: Record) -> dict:
    """The record as JSON-ready data."""
    data = asdict(record)
    data["transfers"] = [asdict(p) for p in record.transfers]
    return data
