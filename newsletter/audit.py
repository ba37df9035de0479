"""The audit log: who did what to personal data, and when.

Every admin action that reads or changes personal data calls `record`. The target is
the subscriber's opaque public id or a keyed address hash, never an address: the log
outlives erasures, and an erased address must not survive in it. `record` refuses a
target or detail that looks like an address, so a careless caller fails loudly in tests
instead of leaking quietly in production.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from .clock import utcnow
from .extensions import db
from .listings import Page, paginate
from .models import AdminUser, AuditEntry

# Actions, one name per kind of access (shown as-is in the audit log page).
LOGIN = "admin.login"
LOGOUT = "admin.logout"
SUBSCRIBER_SEARCH = "subscriber.search"
SUBSCRIBER_VIEW = "subscriber.view"
SUBSCRIBER_EXPORT = "subscriber.export"
SUBSCRIBER_ERASE = "subscriber.erase"
IMPORT = "import"  # written by imports.import_csv
CAMPAIGN_PREVIEW = "campaign.preview"
CAMPAIGN_TEST_SEND = "campaign.test-send"
CAMPAIGN_SEND = "campaign.send"
CAMPAIGN_SCHEDULE = "campaign.schedule"
CAMPAIGN_CANCEL = "campaign.cancel"
CAMPAIGN_DUPLICATE = "campaign.duplicate"
CAMPAIGN_DELETE = "campaign.delete"
CONSENT_TEXT_EDIT = "consent-text.edit"
TOPIC_CREATE = "topic.create"
TOPIC_EDIT = "topic.edit"
OUTBOX_VIEW = "outbox.view"
API_TOKEN_CREATE = "api-token.create"
API_TOKEN_REVOKE = "api-token.revoke"


# Anything shaped like an address (local@domain.tld), wherever it sits in a string.
ADDRESS_PATTERN = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")


class AuditLeakError(ValueError):
    """A caller tried to write an email address into the audit log."""


def actor_name(actor) -> str:
    if isinstance(actor, AdminUser):
        return actor.email
    return str(actor or "system")


def _refuse_addresses(value, where: str) -> None:
    """Raise AuditLeakError if a string inside `value` looks like an email address."""
    if isinstance(value, str):
        if ADDRESS_PATTERN.search(value):
            raise AuditLeakError(f"audit {where} must not hold an email address")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_addresses(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_addresses(item, where)


def record(actor, action: str, target: str = "", **detail) -> AuditEntry:
    """Append one audit entry (flushed; the caller commits with the action itself).

    `actor` is an AdminUser or a name ("cli", "system"); `target` a public id, a keyed
    hash or an object id; `detail` JSON-ready values, never an address.
    """
    _refuse_addresses(target, "target")
    _refuse_addresses(detail, "detail")
    entry = AuditEntry(
        occurred_at=utcnow(),
        actor=actor_name(actor)[:320],
        action=action,
        target=str(target)[:200],
        detail=detail,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def record_once(actor, action: str, target: str, window: timedelta, **detail) -> None:
    """`record`, unless the same actor logged the same action on the same target within
    `window` (a live preview refreshes on every pause in typing: one entry is enough)."""
    since = utcnow() - window
    recent = db.session.scalar(
        select(AuditEntry.id)
        .where(
            AuditEntry.actor == actor_name(actor),
            AuditEntry.action == action,
            AuditEntry.target == str(target),
            AuditEntry.occurred_at >= since,
        )
        .limit(1)
    )
    if recent is None:
        record(actor, action, target, **detail)


def page(number: int, per_page: int = 50) -> Page:
    """One page of the log, newest first (page numbers start at 1, clamped to range)."""
    query = select(AuditEntry).order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
    return paginate(query, number, per_page)
