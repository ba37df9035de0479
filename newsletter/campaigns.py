"""Campaigns: compose, schedule, pick recipients, preview, test-send, report progress.

Domain functions flush, never commit: the view, command or job that calls them commits.
Recipients are fixed when a send starts, in the database (INSERT ... SELECT), so the list
is never loaded into memory; the workers in `sending.py` then deliver them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, fields
from datetime import datetime

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import delete, func, insert, literal, select, text, update

from . import compliance, events, i18n, mailer, messages, tokens
from .addresses import InvalidAddress, address_hash, normalise
from .clock import utcnow
from .extensions import db
from .models import (
    AdminUser,
    Basis,
    Campaign,
    CampaignStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
)

EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
MAX_SUBJECT = 300
# Deliveries that may still produce a message: the campaign is not finished.
OPEN_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)


class CampaignError(Exception):
    """A campaign action that is not possible now; the message says why."""


# --- compose -----------------------------------------------------------------------------


def _validated(subject: str, body_markdown: str, topic: Topic | None, preheader: str):
    subject = messages.clean_header_text(subject)
    preheader = messages.clean_header_text(preheader)
    if not subject:
        raise CampaignError("A subject is required.")
    if len(subject) > MAX_SUBJECT or len(preheader) > MAX_SUBJECT:
        raise CampaignError(f"Subject and preheader may have at most {MAX_SUBJECT} characters.")
    if not (body_markdown or "").strip():
        raise CampaignError("The message body is empty.")
    if "\0" in subject + preheader + body_markdown:  # PostgreSQL text cannot hold NUL
        raise CampaignError("The text contains a NUL character (\\0); remove it.")
    if topic is None:
        raise CampaignError("Choose the list (topic) this campaign goes to.")
    return subject, body_markdown.replace("\r\n", "\n"), topic, preheader


def create_campaign(
    subject: str, body_markdown: str, topic: Topic, preheader: str = "", created_by: str = ""
) -> Campaign:
    """A new draft. CR/LF in the subject or preheader become spaces (never a header)."""
    subject, body, topic, preheader = _validated(subject, body_markdown, topic, preheader)
    campaign = Campaign(
        subject=subject,
        body_markdown=body,
        topic=topic,
        preheader=preheader,
        created_by=(created_by or "")[:200],
        status=CampaignStatus.DRAFT,
        created_at=utcnow(),
        stats={},
    )
    db.session.add(campaign)
    db.session.flush()
    return campaign


def update_campaign(campaign: Campaign, subject, body_markdown, topic, preheader="") -> None:
    """Edit a draft or a scheduled campaign; a sent or sending one is history."""
    _require_status(campaign, EDITABLE, "edited")
    subject, body, topic, preheader = _validated(subject, body_markdown, topic, preheader)
    campaign.subject, campaign.body_markdown = subject, body
    campaign.topic, campaign.preheader = topic, preheader
    db.session.flush()


def _require_status(campaign: Campaign, allowed, action: str) -> None:
    if campaign.status not in allowed:
        raise CampaignError(f"This campaign is {campaign.status}: it cannot be {action}.")


def refusal_reasons(campaign: Campaign) -> list[str]:
    """Why a campaign's messages would fail the compliance check (empty: none).

    A sample message in every supported language goes through the sender's own
    rule-4 check, so a send is refused here for what would refuse its messages later,
    in any recipient's language; each reason names its language.
    """
    problems: list[str] = []
    for language, label in i18n.LANGUAGES.items():
        problems += [f"{label} ({language}): {p}" for p in message_problems(campaign, language)]
    return problems + campaign_problems(campaign)


def campaign_problems(campaign: Campaign) -> list[str]:
    """What refuses this campaign whatever the language: to existing customers (the soft
    opt-in) only the business's own similar products (`compliance.soft_opt_in_problems`)."""
    customers = db.session.scalar(
        select(func.count())
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(
            Subscription.topic_id == campaign.topic_id,
            Subscription.basis == Basis.EXISTING_CUSTOMER,
            Subscription.confirmed_at.is_not(None),
            Subscriber.status == SubscriberStatus.ACTIVE,
        )
    )
    body = messages.render_body(campaign.body_markdown)
    return compliance.soft_opt_in_problems(campaign.topic, body, customers, current_app.config)


def message_problems(
    campaign: Campaign, language: str, recipient: messages.Recipient | None = None
) -> list[str]:
    """The rule-4 check (as the sender runs it) on the message `recipient` (by default a
    sample recipient) would get in `language`; empty when it may be sent."""
    recipient = recipient or messages.sample_recipient(language)
    try:
        raw = messages.prepare(campaign, locale=language).compose(recipient).raw
    except messages.MessageError as exc:
        return [str(exc)]
    return compliance.check_marketing_message(raw)


def _require_compliant(campaign: Campaign) -> None:
    problems = refusal_reasons(campaign)
    if problems:
        raise CampaignError("The message fails the compliance check: " + "; ".join(problems))


# --- schedule, start, cancel -------------------------------------------------------------


def schedule_campaign(campaign: Campaign, at: datetime) -> None:
    """Send at `at` (a job starts it then, never before). `at` must lie in the future."""
    _require_status(campaign, EDITABLE, "scheduled")
    if at.tzinfo is None:
        raise CampaignError("Give the time with a time zone (e.g. 2026-05-01T09:00+02:00).")
    if at <= utcnow():
        raise CampaignError("The scheduled time is in the past.")
    _require_compliant(campaign)
    campaign.status = CampaignStatus.SCHEDULED
    campaign.scheduled_at = at
    db.session.flush()


def cancel_campaign(campaign: Campaign) -> None:
    """Stop a scheduled or sending campaign: queued and deferred messages never leave.

    Messages a worker has already claimed (at most its batch) may still go out.
    """
    _require_status(campaign, (CampaignStatus.SCHEDULED, CampaignStatus.SENDING), "cancelled")
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.campaign_id == campaign.id,
            Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)),
        )
        .values(status=DeliveryStatus.SKIPPED, last_error="campaign cancelled")
    )
    campaign.status = CampaignStatus.CANCELLED
    campaign.finished_at = utcnow()
    db.session.flush()


def start_sending(campaign: Campaign) -> int:
    """Fix the recipients now, one queued delivery each; the campaign is `sending`.

    Recipients: a lawful basis for the topic (compliance rule 1) and no objection on
    the email channel (rule 3). Returns their number. Refused, with the reasons, when
    the message fails the compliance check (rule 4).
    """
    _require_status(campaign, EDITABLE, "sent")
    _require_compliant(campaign)
    now = utcnow()
    recipients = (
        select(literal(campaign.id), Subscriber.id, literal(DeliveryStatus.QUEUED), literal(0))
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(compliance.lawful_recipients_condition(campaign.topic))
    )
    db.session.execute(
        insert(Delivery).from_select(
            ["campaign_id", "subscriber_id", "status", "attempts"], recipients
        )
    )
    _drop_objected(campaign.id)
    if db.engine.dialect.name == "postgresql":
        # Fresh planner statistics for the claims: until autovacuum's ANALYZE gets to a
        # table that just grew by a whole list, the planner guesses its size, and a claim
        # of 500 took 18 ms instead of 9 (100,000 queued, bench/send.py's database).
        # ANALYZE sees this transaction's own new rows and samples at most 30,000 rows
        # whatever the list's size (queueing 100,000 took 2.6 s with it and without).
        # A role that does not own the table gets a warning from it, not an error.
        db.session.execute(text("ANALYZE delivery"))
    campaign.status = CampaignStatus.SENDING
    campaign.started_at = now
    db.session.flush()
    total = count_deliveries(campaign.id)
    if total == 0:
        finish_if_done(campaign)
    return total


def _drop_objected(campaign_id: int, chunk: int = 1000) -> None:
    """Remove recipients whose address is on the email objection list.

    The list holds keyed hashes, which SQL cannot compute: the recipients are read in
    chunks (memory stays flat) only when any email objection exists at all.
    """
    any_objection = db.session.scalar(
        select(Suppression.id).where(Suppression.channel == Channel.EMAIL).limit(1)
    )
    if any_objection is None:
        return
    rows = db.session.execute(
        select(Delivery.id, Subscriber.email)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.campaign_id == campaign_id)
        .execution_options(yield_per=chunk)
    )
    objected: list[int] = []
    for part in rows.partitions():
        by_hash = {address_hash(email): delivery_id for delivery_id, email in part}
        found = db.session.scalars(
            select(Suppression.address_hash).where(
                Suppression.channel == Channel.EMAIL, Suppression.address_hash.in_(by_hash)
            )
        )
        objected.extend(by_hash[h] for h in found)
    for start in range(0, len(objected), chunk):
        db.session.execute(delete(Delivery).where(Delivery.id.in_(objected[start : start + chunk])))


def start_due_scheduled(now: datetime) -> int:
    """Start every scheduled campaign whose time has come; returns how many started.

    One that now fails the compliance check goes back to draft with the reasons in
    its stats, instead of being sent.
    """
    due = db.session.scalars(
        select(Campaign)
        .where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= now)
        .order_by(Campaign.scheduled_at)
    ).all()
    started = 0
    for campaign in due:
        try:
            start_sending(campaign)
            started += 1
        except CampaignError as exc:
            campaign.status = CampaignStatus.DRAFT
            campaign.stats = {**(campaign.stats or {}), "refused": str(exc)}
    db.session.flush()
    return started


# --- progress ----------------------------------------------------------------------------


def count_deliveries(campaign_id: int) -> int:
    """How many recipients the campaign has."""
    query = select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign_id)
    return db.session.scalar(query)


def _counts(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    return dict(rows.all())


def campaign_status(campaign: Campaign) -> dict:
    """Progress as JSON-ready data: status and the counts per delivery state.

    `queued` counts the messages not yet tried (waiting or claimed by a worker).
    """
    counts = _counts(campaign.id)
    if not counts and campaign.stats and "total" in campaign.stats:
        counts = campaign.stats.get("counts", {})  # deliveries expired (retention)
    total = sum(counts.values())
    done = total - sum(counts.get(s, 0) for s in OPEN_STATUSES)
    return {
        "id": campaign.id,
        "status": campaign.status,
        "subject": campaign.subject,
        "topic": campaign.topic.slug,
        "scheduled_at": _iso(campaign.scheduled_at),
        "started_at": _iso(campaign.started_at),
        "finished_at": _iso(campaign.finished_at),
        "total": total,
        "sent": counts.get(DeliveryStatus.SENT, 0),
        "failed": counts.get(DeliveryStatus.FAILED, 0),
        "deferred": counts.get(DeliveryStatus.DEFERRED, 0),
        "skipped": counts.get(DeliveryStatus.SKIPPED, 0),
        "queued": counts.get(DeliveryStatus.QUEUED, 0) + counts.get(DeliveryStatus.SENDING, 0),
        # Nothing to send: done only once sent (a draft or scheduled campaign is at 0 %).
        "percent": round(100 * done / total) if total else _empty_percent(campaign),
    }


def _empty_percent(campaign: Campaign) -> int:
    return 100 if campaign.status == CampaignStatus.SENT else 0


def finish_if_done(campaign: Campaign) -> bool:
    """Mark a sending campaign `sent` once nothing is left to try; keep its counts."""
    if campaign.status != CampaignStatus.SENDING:
        return False
    # Called after every batch: a cheap "is anything open?" first, the counts only at
    # the end (counting a million deliveries after each batch made sending quadratic).
    still_open = select(Delivery.id).where(
        Delivery.campaign_id == campaign.id, Delivery.status.in_(OPEN_STATUSES)
    )
    if db.session.scalar(still_open.limit(1)) is not None:
        return False
    counts = _counts(campaign.id)
    campaign.status = CampaignStatus.SENT
    campaign.finished_at = utcnow()
    campaign.stats = {**(campaign.stats or {}), "total": sum(counts.values()), "counts": counts}
    events.emit(events.CAMPAIGN_SENT, events.campaign_data(campaign))
    db.session.flush()
    return True


def _iso(value) -> str | None:
    return value.isoformat() if value else None


# --- preview and test send ---------------------------------------------------------------


def recipient_for(subscriber: Subscriber, topic: Topic) -> messages.Recipient:
    """The message view of a subscriber on a topic (basis and its date for the footer)."""
    subscription = next((s for s in subscriber.subscriptions if s.topic_id == topic.id), None)
    basis = subscription.basis if subscription else Basis.CONSENT
    confirmed = subscription.confirmed_at if subscription else subscriber.consented_at
    since = compliance.basis_since(basis, confirmed, subscriber.purchased_at)
    locale = i18n.normalize_locale(subscriber.locale) or i18n.DEFAULT
    return messages.Recipient(
        subscriber.email, subscriber.name, subscriber.public_id, basis, since, locale
    )


@dataclass(frozen=True)
class Preview:
    """A message as one recipient gets it, and what the rule-4 check says of it."""

    html: str
    text: str
    language: str
    problems: list[str]


def preview_message(
    campaign: Campaign, subscriber: Subscriber | None = None, language: str | None = None
) -> Preview:
    """The message exactly as this subscriber, or a sample recipient in `language` (the
    default language when None), would get it, with the sender's own rule-4 check on it:
    the preview refuses what the send refuses, in that recipient's language."""
    if subscriber is not None:
        recipient = recipient_for(subscriber, campaign.topic)
    else:
        recipient = messages.sample_recipient(i18n.normalize_locale(language) or i18n.DEFAULT)
    try:
        prepared = messages.prepare(campaign, locale=recipient.locale)
    except messages.MessageError as exc:  # e.g. a layout that prints its own footer
        return Preview("", "", recipient.locale, [str(exc)])
    page, text, _links = prepared.fill(recipient)
    try:
        problems = compliance.check_marketing_message(prepared.compose(recipient).raw)
    except messages.MessageError as exc:
        problems = [str(exc)]
    return Preview(page, text, recipient.locale, problems + campaign_problems(campaign))


def preview(campaign: Campaign, subscriber: Subscriber | None, language: str | None = None):
    """(html, text) exactly as this subscriber (or a sample recipient) would get them."""
    shown = preview_message(campaign, subscriber, language)
    return shown.html, shown.text


@dataclass(frozen=True)
class SendTestWording:
    """What says, in a test message and in its language, that it is one (the rule is
    compliance.check_test_message)."""

    prefix: str  # of the subject
    banner: str  # on top of both parts
    reason: str  # the footer's line, in place of the consent or purchase claim


def wording_of_test_send(language: str, organization: str | None = None) -> SendTestWording:
    """The test marks in `language`, from the translation catalogue."""
    if organization is None:
        organization = current_app.config["ORGANIZATION_NAME"]
    with force_locale(language):
        return SendTestWording(
            prefix=gettext("[TEST]"),
            banner=gettext(
                "Test message: this is how the campaign will look. It was sent to this "
                "address only, not to the list, and its links change nothing."
            ),
            reason=gettext(
                "This is a test message sent by an administrator of %(organization)s to "
                "check a campaign before it goes out; it was not sent to the list, and its "
                "links change nothing.",
                organization=organization,
            ),
        )


@dataclass
class _TestMessage(messages.PreparedCampaign):
    """A prepared campaign made a test: the banner on top of both parts, the test's
    reason line instead of a claim of consent or purchase, and links that act on nobody
    (set by `_prepare_test`)."""

    wording: SendTestWording | None = None

    def reason(self, recipient: messages.Recipient) -> str:
        return self.wording.reason

    def fill(self, recipient: messages.Recipient) -> tuple[str, str, dict[str, str]]:
        page, text, values = super().fill(recipient)
        marks = self.wording
        return _with_banner(page, marks), f"{marks.prefix} {marks.banner}\n\n{text}", values


_BODY_TAG = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


def _with_banner(page: str, marks: SendTestWording) -> str:
    banner = (
        '<div role="note" style="margin:0;padding:12px 16px;background:#fff4ce;'
        "border-bottom:3px solid #8a6d00;color:#1d2330;font-family:Arial,Helvetica,"
        'sans-serif;font-size:15px;line-height:1.4">'
        f"<strong>{html.escape(marks.prefix)}</strong> {html.escape(marks.banner)}</div>"
    )
    found = _BODY_TAG.search(page)
    at = found.end() if found else 0
    return page[:at] + banner + page[at:]


def _prepare_test(campaign: Campaign, language: str) -> _TestMessage:
    marks = wording_of_test_send(language)
    prepared = messages.prepare(campaign, subject_prefix=f"{marks.prefix} ", locale=language)
    # Test tokens name no subscriber: pressing them changes nothing (tokens.TEST).
    unsubscribe = tokens.sign(tokens.TEST, [tokens.UNSUBSCRIBE, language])
    preferences = tokens.sign(tokens.TEST, [tokens.PREFERENCES, language])
    made = {f.name: getattr(prepared, f.name) for f in fields(prepared)}
    made.update(
        sign_unsubscribe=lambda _public_id: unsubscribe,
        sign_preferences=lambda _public_id: preferences,
        wording=marks,
    )
    return _TestMessage(**made)


def send_test(
    campaign: Campaign,
    address: str,
    subscriber: Subscriber | None = None,
    language: str | None = None,
) -> str:
    """Send the campaign to one address as a test, through the real pipeline, in
    `subscriber`'s language or in `language`; returns the language it was made in.

    Only to an admin's address, or to one with no objection or suppression on any
    channel (compliance.refusal_of_test_recipient). The message says it is a test (the
    subject prefix, a banner in both parts), claims no consent (its footer says that an
    administrator sent it), and its links act on nobody: their page says that nothing
    was changed. It must pass compliance.check_test_message (the send's rule-4 check, in
    that language, and those marks). The mail leaves after the caller commits. Raises
    CampaignError for a refused or bad address, or a non-compliant message.
    """
    try:
        to = normalise(address)
    except InvalidAddress as exc:
        raise CampaignError(f"Test address: {exc}") from exc
    is_admin = db.session.scalar(select(AdminUser.id).where(AdminUser.email == to)) is not None
    refusal = compliance.refusal_of_test_recipient(address_hash(to), is_admin)
    if refusal:
        raise CampaignError(refusal)
    chosen = subscriber.locale if subscriber is not None else language
    locale = i18n.normalize_locale(chosen) or i18n.DEFAULT
    recipient = messages.Recipient(to, None, messages.SAMPLE_PUBLIC_ID, Basis.CONSENT, None, locale)
    try:
        prepared = _prepare_test(campaign, locale)
    except messages.MessageError as exc:
        raise CampaignError(f"The message fails the compliance check: {exc}") from exc
    built = prepared.compose(recipient)  # the address was checked above
    problems = compliance.check_test_message(built.raw)
    if problems:
        raise CampaignError("The message fails the compliance check: " + "; ".join(problems))
    mailer.send_raw_after_commit(to, prepared.subject, prepared.sign(built.raw))
    return locale
