"""Previews of a campaign: the message exactly as one recipient (or a sample in a
language) gets it, with the sender's own rule-4 check on it."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from . import campaign_versions, compliance, i18n, messages
from .campaign_versions import Version
from .extensions import db
from .models import Basis, Campaign, Subscriber, SubscriberStatus, Subscription, Topic


def campaign_problems(campaign: Campaign) -> list[str]:
    """What refuses this campaign whatever the language: to existing customers (the soft
    opt-in) only the business's own similar products (`compliance.soft_opt_in_problems`),
    in every version's text."""
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
    texts = campaign_versions.versions(campaign).values()
    body = "\n".join(messages.render_body(v.body_markdown) for v in texts)
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


def recipient_for(subscriber: Subscriber, topic: Topic) -> messages.Recipient:
    """The message view of a subscriber on a topic (basis and its date for the footer)."""
    subscription = next((s for s in subscriber.subscriptions if s.topic_id == topic.id), None)
    basis = subscription.basis if subscription else Basis.CONSENT
    confirmed = subscription.confirmed_at if subscription else subscriber.consented_at
    since = compliance.basis_since(basis, confirmed, subscriber.purchased_at)
    locale = i18n.language_of(subscriber.locale)
    return messages.Recipient(
        subscriber.email, subscriber.name, subscriber.public_id, basis, since, locale
    )


@dataclass(frozen=True)
class Preview:
    """A message as one recipient gets it, and what the rule-4 check says of it."""

    html: str
    text: str
    language: str  # the footer's (the recipient's)
    problems: list[str]
    version: str = ""  # the language of the version shown


def preview_message(
    campaign: Campaign,
    subscriber: Subscriber | None = None,
    language: str | None = None,
    version: Version | None = None,
) -> Preview:
    """The message exactly as this subscriber, or a sample recipient in `language` (the
    default language when None), would get it, with the sender's own rule-4 check on it:
    the preview refuses what the send refuses, in that recipient's language. `version`
    shows that version (a compose tab) instead of the one the recipient would get."""
    if subscriber is not None:
        recipient = recipient_for(subscriber, campaign.topic)
    else:
        recipient = messages.sample_recipient(i18n.language_of(language))
    shown = version or campaign_versions.version_for(campaign, recipient.locale)
    try:
        prepared = messages.prepare(campaign, locale=recipient.locale, version=shown)
    except messages.MessageError as exc:  # e.g. a layout that prints its own footer
        return Preview("", "", recipient.locale, [str(exc)], shown.locale)
    page, text, *_values = prepared.fill(recipient)
    try:
        problems = compliance.check_marketing_message(prepared.compose(recipient).raw)
    except messages.MessageError as exc:
        problems = [str(exc)]
    problems += campaign_problems(campaign)
    return Preview(page, text, recipient.locale, problems, shown.locale)


def preview(campaign: Campaign, subscriber: Subscriber | None, language: str | None = None):
    """(html, text) exactly as this subscriber (or a sample recipient) would get them."""
    shown = preview_message(campaign, subscriber, language)
    return shown.html, shown.text
