"""The record of processing activities of the newsletter (GDPR Art. 30), and its processors.

Built from the live configuration and the models, never written by hand, so that it
cannot drift from what the product does: the controller and contacts
(`ORGANIZATION_*`, `CONTROLLER_CONTACT`, `DPO_CONTACT`), the purposes (one per topic,
with its basis), the categories of personal data (every table and column of
`models.py`, classified in `TABLES` below; a test fails when a table is added without
a decision), the retention periods (the configuration keys of
`compliance.RETENTION_PERIODS`), the recipients and processors (`PROCESSORS`, plus the
SMTP relay, bounce mailbox, database and rate-limit servers found in the configuration),
transfers outside the EEA (`compliance.transfer_safeguard`) and the security measures in
force.

`flask privacy record` prints it as Markdown (or JSON); the admin shows it at
/admin/records; docs/RECORD-OF-PROCESSING.md is the output for the default
configuration (tests/test_records.py keeps it current).

Art. 30(5) exempts organisations under 250 people only for occasional processing; a
newsletter is not occasional, so the record is required whatever the size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select

from . import compliance, periods
from .extensions import db
from .mailer import envelope_sender
from .models import Topic

LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclass
class Processor:
    """Someone who processes personal data for the controller (GDPR Art. 28)."""

    name: str
    purpose: str
    country: str  # as configured; "not stated" for a server found in the configuration
    source: str  # the configuration key it comes from
    safeguard: str | None = None
    host: str | None = None
    transfer: str | None = None  # what the record must say about a transfer; None: EEA
    note: str = ""

    @property
    def safeguard_text(self) -> str:
        """The safeguard column: on record, needed, unknown, or not needed."""
        if self.safeguard:
            return self.safeguard
        if self.transfer:
            return "needed, none on record"
        if self.country == "not stated":
            return "unknown until the country is stated"
        if self.country == "this machine":
            return "—"
        return "not needed (EEA)"


@dataclass
class Category:
    """A kind of personal data the product holds: one table, its columns, its period."""

    table: str
    subjects: list[str]
    description: str
    columns: list[str]
    retention: str


@dataclass
class Purpose:
    name: str
    basis: str


@dataclass
class Record:
    controller: dict[str, str]
    purposes: list[Purpose]
    subjects: list[str]
    categories: list[Category]
    recipients: list[str]
    processors: list[Processor]
    security: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def transfers(self) -> list[Processor]:
        return [p for p in self.processors if p.transfer]


# --- categories of personal data, from the models ------------------------------------------

SUBSCRIBERS = "subscribers, people who signed up, imported customers"
FORMER = "people who opted out or were erased (keyed hash only)"
STAFF = "the organisation's admins (staff)"

# Every table of models.py that holds personal data: who it is about, what it is, how long
# it is kept (a function of the configuration), and, where only some columns are
# personal, which ones. Tables without personal data are in NOT_PERSONAL.
TABLES: dict[str, tuple[tuple[str, ...], str, object, tuple[str, ...] | None]] = {
    "subscriber": (
        (SUBSCRIBERS,),
        "identity and contact (address, optional name), language, source, dates of signup, "
        "confirmation, consent and the last purchase",
        lambda c: (
            f"unconfirmed: {period(c, 'CONFIRM_MAX_AGE_HOURS')}; consent: until the opt-out, "
            f"asked again after {period(c, 'RECONSENT_INTERVAL_DAYS')}, erased "
            f"{period(c, 'RECONSENT_GRACE_DAYS')} after an unanswered request; existing "
            f"customer: {period(c, 'CUSTOMER_BASIS_DAYS')} after the last purchase"
        ),
        None,
    ),
    "subscription": (
        (SUBSCRIBERS,),
        "the lists a person is on, with the basis and confirmation date",
        lambda c: "as the subscriber",
        None,
    ),
    "consent_event": (
        (SUBSCRIBERS, FORMER),
        "consent evidence (append-only): what was agreed to (text version and language, "
        "lists with their names and descriptions then), when, "
        "how (event, source), IP address and user agent; keyed by the address's keyed hash",
        lambda c: (
            "while the person is subscribed; after they leave, "
            f"{period(c, 'CONSENT_EVIDENCE_RETENTION_DAYS')} after their last event"
        ),
        None,
    ),
    "import_evidence": (
        (SUBSCRIBERS, FORMER),
        "what an imported row proves about its consent or purchase: the wording or a "
        "reference to it, when, where, how, from which earlier system, how the opt-out was "
        "offered, who declared the contacts their own (no address: kept with its event)",
        lambda c: "as the consent event it belongs to",
        None,
    ),
    "address_change": (
        (SUBSCRIBERS,),
        "a new address a subscriber asked for (rectification), until the current address "
        "approved it and its confirmation link is used: the new address and when it was "
        "asked (or approved)",
        lambda c: (
            f"until confirmed, at most {period(c, 'CONFIRM_MAX_AGE_HOURS')} after the request "
            "or its approval; deleted on confirmation and on erasure"
        ),
        None,
    ),
    "retired_public_id": (
        (FORMER,),
        "the random id in the links of an erased or lapsed subscriber's older messages, with "
        "the keyed hash of the address, so those links still reach the person as they are "
        "now (pseudonymised)",
        lambda c: "kept while the installation sends (unsubscribe links never expire)",
        None,
    ),
    "lapsed_basis": (
        (FORMER,),
        "an existing-customer basis that lapsed (the purchase too old): keyed hash of the "
        "address and the date of the lapsed evidence, so the same evidence is not imported "
        "again (pseudonymised)",
        lambda c: "kept while the installation sends (like the suppression list)",
        None,
    ),
    "suppression": (
        (FORMER,),
        "suppression list and objection register: keyed hash of the address, channel, "
        "reason, date (pseudonymised)",
        lambda c: "kept while the installation sends (an objection does not expire)",
        None,
    ),
    "confirmation_send": (
        (SUBSCRIBERS,),
        "when a confirmation mail went to an address (keyed hash): the list-bombing guard",
        lambda c: period(c, "CONFIRM_MAX_AGE_HOURS"),
        None,
    ),
    "delivery": (
        (SUBSCRIBERS,),
        "which campaign message went to whom, its status, attempts and the mail server's reply",
        lambda c: (
            f"{period(c, 'DELIVERY_RETENTION_DAYS')} after the campaign finished, then counts only"
        ),
        None,
    ),
    "bounce_event": (
        (SUBSCRIBERS,),
        "bounces and spam complaints (kind, status code), linked to a person only through "
        "the delivery record",
        lambda c: (
            f"linked for {period(c, 'DELIVERY_RETENTION_DAYS')} (the delivery record), "
            "then anonymous"
        ),
        None,
    ),
    "outbox_message": (
        (SUBSCRIBERS,),
        "complete mails kept by the built-in outbox when no SMTP server is set",
        lambda c: period(c, "OUTBOX_RETENTION_DAYS"),
        None,
    ),
    "rights_request": (
        (SUBSCRIBERS, FORMER),
        "access and erasure requests: kind, channel, keyed hash, dates",
        lambda c: period(c, "RIGHTS_REQUEST_RETENTION_DAYS"),
        None,
    ),
    "audit_entry": (
        (STAFF, SUBSCRIBERS),
        "who did what to personal data, and when; subscribers appear by opaque id or keyed "
        "hash, never by address",
        lambda c: period(c, "AUDIT_RETENTION_DAYS"),
        None,
    ),
    "admin_user": (
        (STAFF,),
        "admin accounts: address, argon2id password hash, role (owner or editor), dates "
        "(created, last sign-in, deactivated), the two-factor secret encrypted under a key "
        "derived from SECRET_KEY and the last code's time step",
        lambda c: "while the account exists",
        None,
    ),
    "campaign": (
        (STAFF,),
        "the author of each campaign",
        lambda c: "with the campaign",
        ("created_by",),
    ),
    "breach_log_entry": (
        (STAFF,),
        "the breach log (Art. 33(5)): who recorded each entry; affected people are "
        "described by category and number only",
        lambda c: "kept for good (the authority verifies compliance with it)",
        ("recorded_by",),
    ),
}
NOT_PERSONAL = frozenset({"topic", "consent_text", "setting", "job_lease", "api_token"})

RETENTION_EXTRA = {
    # Not a table: the rate-limit counters are keyed by client IP address.
    "rate-limit counters (client IP address)": "at most one hour (the longest limit window)",
}


def categories(config) -> tuple[list[Category], list[str]]:
    """Every table holding personal data with its columns; and the unclassified tables."""
    found, unclassified = [], []
    for table in sorted(db.metadata.tables.values(), key=lambda t: t.name):
        if table.name in NOT_PERSONAL:
            continue
        if table.name not in TABLES:
            unclassified.append(table.name)
            continue
        subjects, description, retention, only = TABLES[table.name]
        columns = [
            c.name
            for c in table.columns
            if not c.primary_key and not c.foreign_keys and (only is None or c.name in only)
        ]
        category = Category(table.name, list(subjects), description, columns, retention(config))
        found.append(category)
    return found, unclassified


# --- periods in words ------------------------------------------------------------------


def period(config, key: str) -> str:
    """A configured period in years, months or days, with the exact value and its key."""
    value = int(config[key])
    return f"{periods.config_period(config, key, 'en')} (`{key}` = {value})"


def in_words(days: int) -> str:
    """730 → "2 years", 90 → "3 months", 45 → "45 days": `periods.days_in_words` in
    English, the one function that writes every period shown to a person."""
    return periods.days_in_words(days, "en")


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
    found = []
    if config.get("MAIL_SERVER"):
        found.append(
            _server(
                config["MAIL_SERVER"],
                "SMTP relay",
                "receives every mail (address, name, message) and delivers it",
                "NEWSLETTER_MAIL_SERVER",
            )
        )
    if config.get("BOUNCE_MAILBOX_PROTOCOL") and config.get("BOUNCE_MAILBOX_HOST"):
        found.append(
            _server(
                config["BOUNCE_MAILBOX_HOST"],
                "Bounce mailbox",
                "receives bounce reports and complaints (they name the recipient's address)",
                "NEWSLETTER_BOUNCE_MAILBOX_HOST",
            )
        )
    database = urlsplit(config["SQLALCHEMY_DATABASE_URI"])
    if not database.scheme.startswith("sqlite") and _remote(database.hostname):
        found.append(
            _server(
                database.hostname,
                "Database server",
                "stores all the data listed in this record",
                "NEWSLETTER_SQLALCHEMY_DATABASE_URI",
            )
        )
    limits = urlsplit(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if limits.scheme != "memory" and _remote(limits.hostname):
        found.append(
            _server(
                limits.hostname,
                "Rate-limit store",
                "keeps request counters keyed by client IP address",
                "NEWSLETTER_RATELIMIT_STORAGE_URI",
            )
        )
    return found


def _remote(host: str | None) -> bool:
    return bool(host) and host.lower() not in LOOPBACK


def _server(host: str, kind: str, purpose: str, key: str) -> Processor:
    if not _remote(host):
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
    if config.get("MAIL_SERVER") and _remote(config["MAIL_SERVER"]):
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


# --- Markdown ---------------------------------------------------------------------------


def render_markdown(record: Record) -> str:
    """The record as a Markdown document (docs/RECORD-OF-PROCESSING.md)."""
    c = record.controller
    out = [
        "# Record of processing activities: the newsletter",
        "",
        "GDPR Art. 30(1). Generated by `flask privacy record` from the live configuration "
        "and the data model; do not edit by hand (docs/RECORD-OF-PROCESSING.md is the "
        "output for the default configuration).",
        "",
        "## Controller (Art. 30(1)(a))",
        "",
        f"- Name: {c['name']}",
        f"- Address: {c['address']}",
        f"- Privacy contact: {c['contact']} ({c['contact_source']})",
        f"- Data protection officer: {c['dpo']}",
        f"- Privacy notice: {c['privacy_notice']}",
        "",
        "## Purposes and lawful basis (Art. 30(1)(b))",
        "",
        "| purpose | basis |",
        "|---|---|",
        *(f"| {_cell(p.name)} | {_cell(p.basis)} |" for p in record.purposes),
        "",
        "## Data subjects (Art. 30(1)(c))",
        "",
        *(f"- {s}" for s in record.subjects),
        "",
        "## Categories of personal data and their erasure periods (Art. 30(1)(c), (f))",
        "",
        "| table | about | what | columns | kept |",
        "|---|---|---|---|---|",
        *(
            f"| `{t.table}` | {_cell('; '.join(t.subjects))} | {_cell(t.description)} | "
            f"{', '.join(t.columns)} | {_cell(t.retention)} |"
            for t in record.categories
        ),
        *(f"| — | — | {_cell(k)} | — | {_cell(v)} |" for k, v in RETENTION_EXTRA.items()),
        "",
        "## Recipients (Art. 30(1)(d))",
        "",
        *(f"- {r}" for r in record.recipients),
        "",
        "## Processors (Art. 28, 30(1)(d))",
        "",
    ]
    out += _processor_table(record.processors)
    out += ["", "## Transfers outside the EEA (Art. 30(1)(e), 44-46)", ""]
    out += [f"- {p.name} ({p.country}): {p.transfer}" for p in record.transfers] or [
        "None: no configured processor is outside the EEA."
    ]
    out += ["", "## Security measures (Art. 30(1)(g), 32)", ""]
    out += [f"- {m}" for m in record.security]
    out += ["", "## To do for the operator", ""]
    out += [f"- {w}" for w in record.warnings] or ["Nothing."]
    return "\n".join(out) + "\n"


def _processor_table(found: list[Processor]) -> list[str]:
    if not found:
        return ["None configured (`NEWSLETTER_PROCESSORS` is empty and no outside server is set)."]
    return [
        "| processor | purpose | country | safeguard | from |",
        "|---|---|---|---|---|",
        *(
            f"| {_cell(p.name)} | {_cell(p.purpose)} | {_cell(p.country)} | "
            f"{_cell(p.safeguard_text)} | "
            f"`{p.source}` |"
            for p in found
        ),
    ]


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")
