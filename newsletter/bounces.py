"""Bounces and complaints: tie them to a delivery, decide hard or soft, apply them.

Every campaign message leaves with its own envelope sender (VERP, RFC 5321 Return-Path)
`bounces+<token>@domain`, where the token is the delivery's id signed with the purpose
`bounce`. A delivery status notification (RFC 3464) goes back to that address; a
receiving server copies it into the Return-Path header of the stored mail, which an
abuse report (ARF, RFC 5965) quotes. Only a correctly signed token counts: a forged
report cannot unsubscribe anyone.

What a report does (docs/RELIABILITY.md):
- a complaint is an objection: the address is erased and objected on every channel;
- a hard bounce (5.x.x) suppresses the address once BOUNCE_HARD_LIMIT deliveries in a
  row hard-bounced; any bounce counts towards BOUNCE_SOFT_LIMIT in a row;
- a soft bounce (4.x.x, reported as failed) is retried with the sender's back-off;
- "delayed", "delivered" and non-complaint feedback change nothing.
Domain functions flush; the caller commits.
"""

from __future__ import annotations

import email
import email.policy
import functools
import hashlib
import logging
import re
from dataclasses import dataclass
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import func, or_, select

from . import compliance, subscriptions, tokens
from .clock import utcnow
from .extensions import db
from .models import (
    BounceEvent,
    BounceKind,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SuppressionReason,
)
from .sending import retry

log = logging.getLogger(__name__)

IGNORED = "ignored"  # a report that changes nothing (delayed, delivered, not-spam)
MAX_REPORT_BYTES = 10 * 1024 * 1024
COMPLAINT_TYPES = {"abuse", "fraud", "other"}  # RFC 5965 3.1; not-spam etc. are no complaint
_STATUS = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")
_ENHANCED = re.compile(r"\b[245]\.\d{1,3}\.\d{1,3}\b")
_SMTP_CODE = re.compile(r"\b([245])\d\d\b")
_VERP_TOKEN = re.compile(rb"\+([A-Za-z0-9_\-]{1,40}\.[A-Za-z0-9_\-]{20,60})@")


class ReportError(ValueError):
    """The message is not a bounce or complaint report we can read; the text says why."""


@dataclass(frozen=True)
class Report:
    """What a report says, before it is applied."""

    kind: str  # BounceKind.* or IGNORED
    status: str | None  # RFC 3463 status code, e.g. "5.1.1"
    delivery_id: int | None  # from a verified VERP token; None: cannot be matched
    digest: str  # SHA-256 of the raw report (idempotence)


# --- the envelope sender -----------------------------------------------------------------


def envelope_sender(delivery_id: int) -> str | None:
    """The VERP envelope sender of one delivery, or None when BOUNCE_ADDRESS is unset."""
    address = current_app.config.get("BOUNCE_ADDRESS")
    if not address:
        return None
    local, domain = _verp_parts(address)
    return f"{local}+{tokens.sign(tokens.BOUNCE, delivery_id)}@{domain}"


@functools.lru_cache(maxsize=8)
def _verp_parts(address: str) -> tuple[str, str]:
    """(local part, domain) of BOUNCE_ADDRESS, read once (the sender asks per message)."""
    local, _, domain = parseaddr(address)[1].rpartition("@")
    return local, domain


def delivery_from_text(raw: bytes) -> int | None:
    """The delivery id of the first correctly signed VERP token found in the report."""
    for match in _VERP_TOKEN.finditer(raw):
        try:
            payload = tokens.verify(tokens.BOUNCE, match.group(1).decode("ascii"))
        except tokens.InvalidTokenError:
            continue
        if isinstance(payload, int) and not isinstance(payload, bool):
            return payload
    return None


# --- parsing -----------------------------------------------------------------------------


def parse(raw: bytes) -> Report:
    """Read an RFC 3464 DSN or an RFC 5965 ARF report; raises ReportError otherwise."""
    if not isinstance(raw, bytes | bytearray) or not raw.strip():
        raise ReportError("The message is empty.")
    if len(raw) > MAX_REPORT_BYTES:
        raise ReportError("The message is larger than 10 MB.")
    raw = bytes(raw)
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        kind, status = _classify(message)
    except ReportError:
        raise
    except Exception as exc:  # untrusted input: any parser failure is "unreadable"
        raise ReportError(f"The message cannot be read ({exc.__class__.__name__}).") from exc
    digest = hashlib.sha256(raw).hexdigest()
    delivery_id = delivery_from_text(raw) if kind != IGNORED else None
    return Report(kind, status, delivery_id, digest)


def _classify(message) -> tuple[str, str | None]:
    parts = {part.get_content_type(): part for part in message.walk()}
    if "message/feedback-report" in parts:
        return _feedback(parts["message/feedback-report"])
    if "message/delivery-status" in parts:
        return _delivery_status(parts["message/delivery-status"])
    raise ReportError(
        "This is neither a delivery status notification (RFC 3464) "
        "nor a complaint report (RFC 5965)."
    )


def _field_blocks(part) -> list:
    """The field blocks of a message/* report part (the email package parses them)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    return [email.message_from_string(str(payload), policy=email.policy.compat32)]


def _feedback(part) -> tuple[str, str | None]:
    blocks = _field_blocks(part)
    feedback_type = str(blocks[0].get("Feedback-Type", "") if blocks else "").strip().lower()
    return (BounceKind.COMPLAINT if feedback_type in COMPLAINT_TYPES else IGNORED), None


def _delivery_status(part) -> tuple[str, str | None]:
    """The worst recipient outcome: failed 5.x.x is hard, failed 4.x.x is soft."""
    found: tuple[str, str | None] = (IGNORED, None)
    for block in _field_blocks(part)[1:] or _field_blocks(part):
        action = str(block.get("Action", "")).strip().lower()
        if action != "failed":
            continue  # delayed: the remote server keeps trying; delivered/relayed: fine
        status = _status_code(block)
        if status is None or status.startswith("5"):
            return BounceKind.HARD, status  # failed without a code: permanent (RFC 3464 2.3.3)
        found = (BounceKind.SOFT, status)
    return found


def _status_code(block) -> str | None:
    status = str(block.get("Status", "")).strip().split(" ")[0]
    if _STATUS.match(status):
        return status[:16]
    code = _SMTP_CODE.search(str(block.get("Diagnostic-Code", "")))
    return f"{code.group(1)}.0.0" if code else None


# --- applying ---------------------------------------------------------------------------


def record_rejection(delivery_id: int, attempt: int, reply: str) -> str:
    """A 5xx reply of our SMTP server to one delivery: a hard bounce, applied at once.

    `reply` is "550 5.1.1 text"; the enhanced status code is kept, the text is not
    (it often quotes the address). Called by the sending engine; flushes only.
    """
    found = _ENHANCED.search(reply)
    status = found.group(0) if found else f"{reply[:1]}.0.0"
    digest = hashlib.sha256(f"smtp:{delivery_id}:{attempt}".encode()).hexdigest()
    return apply(Report(BounceKind.HARD, status, delivery_id, digest), "smtp")


def process(raw: bytes, source: str) -> str:
    """Parse and apply one report; returns the outcome (see `apply`). Flushes only."""
    return apply(parse(raw), source)


def apply(report: Report, source: str) -> str:
    """Record a report against its delivery and act on it.

    Outcomes: "ignored", "unmatched" (no valid token, or the delivery has expired),
    "duplicate" (seen before), "recorded", "retried" (soft bounce queued again) and
    "suppressed" (the address was erased and put on the suppression list).
    """
    if report.kind == IGNORED:
        return IGNORED
    delivery = db.session.get(Delivery, report.delivery_id) if report.delivery_id else None
    if delivery is None:
        return "unmatched"
    if not _record(report, delivery, source):
        return "duplicate"
    subscriber = db.session.get(Subscriber, delivery.subscriber_id or 0)
    if subscriber is None:
        return "recorded"  # already erased: the suppression list already holds the hash
    evidence = subscriptions.Evidence(source=f"{report.kind} report ({source})")
    if report.kind == BounceKind.COMPLAINT:
        channels = compliance.complaint_objection_channels()
        subscriptions.erase(subscriber, SuppressionReason.COMPLAINED, channels, evidence)
        return "suppressed"
    if _bounced_too_often(subscriber.id, delivery.id):
        subscriptions.erase(
            subscriber,
            SuppressionReason.BOUNCED,
            compliance.bounce_suppression_channels(),
            evidence,
        )
        return "suppressed"
    if report.kind == BounceKind.SOFT and _retry(delivery, report.status):
        return "retried"
    return "recorded"


def _record(report: Report, delivery: Delivery, source: str) -> bool:
    """Insert the event once; False when this report was applied before."""
    if db.session.scalar(select(BounceEvent.id).where(BounceEvent.digest == report.digest)):
        return False
    event = BounceEvent(
        digest=report.digest,
        delivery_id=delivery.id,
        campaign_id=delivery.campaign_id,
        kind=report.kind,
        status=report.status,
        source=source[:16],
        occurred_at=utcnow(),
    )
    # Two pollers racing on one report: the unique digest makes the second one's flush
    # fail (IntegrityError), its transaction rolls back, and its next poll sees a duplicate.
    db.session.add(event)
    db.session.flush()
    return True


def _bounced_too_often(subscriber_id: int, current_delivery_id: int) -> bool:
    """Did the person's latest deliveries bounce BOUNCE_HARD_LIMIT / _SOFT_LIMIT in a row?"""
    config = current_app.config
    hard_limit, soft_limit = config["BOUNCE_HARD_LIMIT"], config["BOUNCE_SOFT_LIMIT"]
    recent = db.session.scalars(
        select(Delivery.id)
        .where(
            Delivery.subscriber_id == subscriber_id,
            # handed to SMTP; the delivery at hand may not have its attempt written yet
            or_(Delivery.attempts > 0, Delivery.id == current_delivery_id),
        )
        .order_by(Delivery.id.desc())
        .limit(max(hard_limit, soft_limit))
    ).all()
    kinds: dict[int, set[str]] = {}
    for delivery_id, kind in db.session.execute(
        select(BounceEvent.delivery_id, BounceEvent.kind).where(BounceEvent.delivery_id.in_(recent))
    ):
        kinds.setdefault(delivery_id, set()).add(kind)
    hard = _leading(recent, kinds, {BounceKind.HARD})
    any_bounce = _leading(recent, kinds, {BounceKind.HARD, BounceKind.SOFT})
    return compliance.suppress_after_bounces(hard, any_bounce, hard_limit, soft_limit)


def _leading(delivery_ids: list[int], kinds: dict[int, set[str]], wanted: set[str]) -> int:
    """How many of the newest deliveries, in a row, have a bounce of the wanted kinds."""
    count = 0
    for delivery_id in delivery_ids:
        if not kinds.get(delivery_id, set()) & wanted:
            break
        count += 1
    return count


def _retry(delivery: Delivery, status: str | None) -> bool:
    """Queue a soft-bounced message again with the sender's back-off (False: gave up)."""
    campaign = db.session.get(Campaign, delivery.campaign_id)
    if delivery.status != DeliveryStatus.SENT or retry.gave_up(delivery.attempts):
        return False
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SENT):
        return False  # cancelled: nothing more goes out
    delivery.status = DeliveryStatus.DEFERRED
    delivery.next_attempt_at = retry.next_attempt_at(utcnow(), delivery.attempts)
    delivery.last_error = f"soft bounce {status or ''}".strip()
    if campaign.status == CampaignStatus.SENT:  # reopen, so that a worker picks it up
        campaign.status, campaign.finished_at = CampaignStatus.SENDING, None
    db.session.flush()
    return True


# --- rates -------------------------------------------------------------------------------


def campaign_rates(campaign: Campaign) -> dict:
    """Bounce and complaint figures of a campaign, for the admin.

    Rates are per message handed to SMTP. `level` is "ok", "warning" (complaints at or
    above 0.1 %) or "pause" (0.3 %, the mailbox providers' line: pause the sending).
    """
    rows = db.session.execute(
        select(BounceEvent.kind, func.count(func.distinct(BounceEvent.delivery_id)))
        .where(BounceEvent.campaign_id == campaign.id)
        .group_by(BounceEvent.kind)
    )
    counts = {kind: 0 for kind in BounceKind.ALL} | dict(rows.all())
    handed_over = db.session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.campaign_id == campaign.id, Delivery.attempts > 0)
    )
    if not handed_over:  # deliveries expired (retention): the counts kept at the end
        handed_over = int(((campaign.stats or {}).get("counts") or {}).get("sent", 0))
    level = compliance.complaint_rate_level(counts[BounceKind.COMPLAINT], handed_over)
    return {
        "sent": handed_over,
        "hard_bounces": counts[BounceKind.HARD],
        "soft_bounces": counts[BounceKind.SOFT],
        "complaints": counts[BounceKind.COMPLAINT],
        "bounce_rate": _rate(counts[BounceKind.HARD] + counts[BounceKind.SOFT], handed_over),
        "complaint_rate": _rate(counts[BounceKind.COMPLAINT], handed_over),
        "level": level,
        "warning": level in ("warning", "pause"),
        "pause_recommended": level == "pause",
    }


def _rate(count: int, total: int) -> float:
    return count / total if total else 0.0
