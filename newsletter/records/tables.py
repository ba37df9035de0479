"""Every table's category of personal data, purpose and retention (`TABLES`), and
the periods in words."""

from __future__ import annotations

from .. import periods
from ..extensions import db
from .core import Category

# --- categories of personal data, from the models ------------------------------------------

SUBSCRIBERS = "subscribers, people who signed up, imported customers"
FORMER = "people who opted out or were erased (keyed hash only)"
STAFF = "the organisation's admins (staff)"

# Every table of models/ that holds personal data: who it is about, what it is, how long
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
    "media": (
        (STAFF,),
        "the media library (images for campaigns, stored without metadata): which admin "
        "uploaded each image; a photo that shows a person is that person's data, uploaded "
        "with their permission",
        lambda c: "until the image is deleted from the media library",
        ("uploaded_by",),
    ),
    "webhook_delivery": (
        (SUBSCRIBERS, FORMER),
        "events sent to the organisation's own systems by webhook (subscriber confirmed, "
        "unsubscribed or erased; campaign sent): the subscriber's random public id, never "
        "the address, with the lists and language of a confirmation, and the delivery's "
        "status, attempts and HTTP status code (pseudonymised)",
        lambda c: period(c, "WEBHOOK_LOG_RETENTION_DAYS"),
        None,
    ),
}
NOT_PERSONAL = frozenset(
    {
        "api_token",
        "campaign_opt_out",
        "campaign_version",
        "webhook_endpoint",
        "consent_text",
        "job_lease",
        "published_campaign",
        "recipient_change_count",  # one number: how many changes the triggers counted
        "setting",
        "topic",
        "topic_translation",
    }
)

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
    value = config[key]
    return f"{periods.config_period(config, key, 'en')} (`{key}` = {value})"


def in_words(days: int) -> str:
    """730 → "2 years", 90 → "3 months", 45 → "45 days": `periods.days_in_words` in
    English, the one function that writes every period shown to a person."""
    return periods.days_in_words(days, "en")
