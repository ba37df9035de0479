"""Campaigns: compose, duplicate, delete a draft, schedule, fix the recipients, start.

Domain functions flush, never commit: the view, command or job that calls them commits.
Recipients are fixed when a send starts, in the database (INSERT ... SELECT), so the list
is never loaded into memory; the workers in `sending/` then deliver them. The language
versions are in `campaign_versions`, progress in `campaign_progress`, previews and the
rule-4 check of a campaign in `previews`, test sends in `test_sends` (their names are
re-exported here).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, literal, select, text, update

from . import campaign_versions, compliance, i18n
from .addresses import address_hash
from .campaign_progress import (  # noqa: F401 - re-exported
    OPEN_STATUSES,
    campaign_status,
    count_deliveries,
    counts_by_language,
    finish_if_done,
)
from .campaign_versions import MAX_SUBJECT, CampaignError  # noqa: F401 - re-exported
from .clock import utcnow
from .extensions import db
from .models import (
    Campaign,
    CampaignStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    Subscriber,
    Subscription,
    Topic,
)
from .previews import (  # noqa: F401 - re-exported
    Preview,
    campaign_problems,
    message_problems,
    preview,
    preview_message,
    recipient_for,
)
from .test_sends import SendTestWording, send_test, wording_of_test_send  # noqa: F401

EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)


# --- compose -----------------------------------------------------------------------------


def _validated(subject: str, body_markdown: str, topic: Topic | None, preheader: str):
    subject, body, preheader = campaign_versions.validated(subject, body_markdown, preheader)
    if topic is None:
        raise CampaignError("Choose the list (topic) this campaign goes to.")
    return subject, body, topic, preheader


def create_campaign(
    subject: str,
    body_markdown: str,
    topic: Topic,
    preheader: str = "",
    created_by: str = "",
    locale: str | None = None,
) -> Campaign:
    """A new draft whose text is its version in `locale` (by default the default
    language). CR/LF in the subject or preheader become spaces (never a header)."""
    language = campaign_versions.require_locale(locale or campaign_versions.default_language())
    subject, body, topic, preheader = _validated(subject, body_markdown, topic, preheader)
    campaign = Campaign(
        subject=subject,
        body_markdown=body,
        topic=topic,
        preheader=preheader,
        locale=language,
        created_by=(created_by or "")[:200],
        status=CampaignStatus.DRAFT,
        created_at=utcnow(),
        stats={},
    )
    db.session.add(campaign)
    db.session.flush()
    return campaign


def update_campaign(campaign: Campaign, subject, body_markdown, topic, preheader="") -> None:
    """Edit the main version of a draft or a scheduled campaign; a sent or sending one
    is history."""
    _require_status(campaign, EDITABLE, "edited")
    subject, body, topic, preheader = _validated(subject, body_markdown, topic, preheader)
    campaign.subject, campaign.body_markdown = subject, body
    campaign.topic, campaign.preheader = topic, preheader
    db.session.flush()


def update_versions(campaign: Campaign, topic: Topic | None, texts: dict) -> None:
    """Edit a draft or scheduled campaign as the compose form has it: its topic and its
    versions ({locale: (subject, body, preheader)}; `campaign_versions.set_versions`)."""
    _require_status(campaign, EDITABLE, "edited")
    if topic is None:
        raise CampaignError("Choose the list (topic) this campaign goes to.")
    campaign.topic = topic
    campaign_versions.set_versions(campaign, texts)


def translate_campaign(
    campaign: Campaign, locale: str, subject: str, body_markdown: str, preheader: str = ""
) -> None:
    """Add or replace the version in `locale` of a draft or scheduled campaign."""
    _require_status(campaign, EDITABLE, "translated")
    campaign_versions.set_version(campaign, locale, subject, body_markdown, preheader)


def duplicate_campaign(campaign: Campaign, created_by: str = "") -> Campaign:
    """A new draft with the same topic and every version of `campaign` (any status)."""
    copy = Campaign(
        topic=campaign.topic,
        created_by=(created_by or "")[:200],
        status=CampaignStatus.DRAFT,
        created_at=utcnow(),
        stats={},
    )
    campaign_versions.copy_versions(campaign, copy)
    db.session.add(copy)
    db.session.flush()
    return copy


def delete_draft(campaign: Campaign) -> None:
    """Delete a draft and its versions; anything scheduled or sent is kept."""
    _require_status(campaign, (CampaignStatus.DRAFT,), "deleted (only drafts can be)")
    has_deliveries = db.session.scalar(
        select(Delivery.id).where(Delivery.campaign_id == campaign.id).limit(1)
    )
    if has_deliveries is not None:  # a draft again after a refused start: keep its history
        raise CampaignError("This draft has delivery records: it cannot be deleted.")
    db.session.delete(campaign)
    db.session.flush()


def _require_status(campaign: Campaign, allowed, action: str) -> None:
    if campaign.status not in allowed:
        raise CampaignError(f"This campaign is {campaign.status}: it cannot be {action}.")


def refusal_reasons(campaign: Campaign) -> list[str]:
    """Why a campaign's messages would fail the compliance check (empty: none).

    A sample message in every supported language (the version that language's
    recipients get, with the footer in it) goes through the sender's own rule-4 check,
    so a send is refused here for what would refuse its messages later, in any
    recipient's language; each reason names its language.
    """
    problems: list[str] = []
    for language, label in i18n.LANGUAGES.items():
        problems += [f"{label} ({language}): {p}" for p in message_problems(campaign, language)]
    return problems + campaign_problems(campaign)


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


def start_sending(campaign: Campaign, only_locale: str | None = None) -> int:
    """Fix the recipients now, one queued delivery each (with the recipient's language);
    the campaign is `sending`. `only_locale`: only subscribers whose language that is.

    Recipients: a lawful basis for the topic (compliance rule 1) and no objection on
    the email channel (rule 3). Returns their number. Refused, with the reasons, when
    the message fails the compliance check (rule 4).
    """
    _require_status(campaign, EDITABLE, "sent")
    if only_locale is not None:
        only_locale = campaign_versions.require_locale(only_locale)
    _require_compliant(campaign)
    columns = ["campaign_id", "subscriber_id", "status", "attempts", "locale"]
    recipients = _recipients(campaign, only_locale).with_only_columns(
        literal(campaign.id), Subscriber.id, literal(DeliveryStatus.QUEUED), literal(0),
        Subscriber.locale,
    )  # fmt: skip
    db.session.execute(insert(Delivery).from_select(columns, recipients))
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
    campaign.started_at = utcnow()
    if only_locale is not None:
        campaign.stats = {**(campaign.stats or {}), "only_locale": only_locale}
    db.session.flush()
    total = count_deliveries(campaign.id)
    if total == 0:
        finish_if_done(campaign)
    return total


def _recipients(campaign: Campaign, only_locale: str | None = None):
    """The lawful recipients of the campaign (rule 1), in one language or all."""
    query = (
        select(Subscriber.id)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(compliance.lawful_recipients_condition(campaign.topic))
    )
    if only_locale is not None:
        query = query.where(Subscriber.locale == only_locale)
    return query


def audience_by_language(campaign: Campaign, only_locale: str | None = None) -> list[dict]:
    """Who would get which version if the campaign started now: per recipients'
    language, how many, the version they get and whether it is their own (objections
    recorded for still-listed people are removed at the start: these are upper bounds)."""
    query = _recipients(campaign, only_locale).with_only_columns(Subscriber.locale, func.count())
    counts = dict(db.session.execute(query.group_by(Subscriber.locale)).all())
    rows = []
    for code in sorted(counts, key=lambda c: (c not in i18n.LANGUAGES, c)):
        version = campaign_versions.version_for(campaign, i18n.normalize_locale(code))
        own = version.locale == code
        rows.append({"locale": code, "count": counts[code], "version": version.locale, "own": own})
    return rows


def _drop_objected(campaign_id: int, chunk: int = 1000) -> None:
    """Remove recipients whose address is on the email objection list.

    The list holds keyed hashes, which SQL cannot compute: the recipients are read in
    chunks (memory stays flat) only when any email objection exists at all.
    """
    if not compliance.any_objection(Channel.EMAIL):
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
        found = compliance.objected_hashes(set(by_hash), Channel.EMAIL)
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
