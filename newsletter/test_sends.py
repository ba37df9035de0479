"""Test sends of a campaign: to one address, marked as a test, claiming no consent,
with links that act on nobody (compliance.check_test_message).

Domain functions flush, never commit; the mail leaves after the caller commits.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, fields

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import select

from . import compliance, i18n, mailer, messages, tokens
from .addresses import InvalidAddressError, address_hash, normalise
from .campaign_versions import CampaignError
from .extensions import db
from .models import AdminUser, Basis, Campaign, Subscriber


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

    def fill(self, recipient: messages.Recipient) -> tuple[str, str, dict, dict]:
        page, text, *values = super().fill(recipient)
        marks = self.wording
        return _with_banner(page, marks), f"{marks.prefix} {marks.banner}\n\n{text}", *values


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
        unsubscribe_suffix="",  # a test's opt-out counts for no campaign (campaign_figures)
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
    except InvalidAddressError as exc:
        raise CampaignError(f"Test address: {exc}") from exc
    is_admin = db.session.scalar(select(AdminUser.id).where(AdminUser.email == to)) is not None
    refusal = compliance.refusal_of_test_recipient(address_hash(to), is_admin)
    if refusal:
        raise CampaignError(refusal)
    chosen = subscriber.locale if subscriber is not None else language
    locale = i18n.language_of(chosen)
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
