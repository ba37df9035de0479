"""The web version of a campaign message ("view in browser") and the public archive.

A web version shows a campaign in ONE language and holds no personal data: its link
(`/view/<token>`, token purpose `web-version`, payload `[campaign id, language]`) is the
same for every recipient of that language, so it names nobody, and the page shows
`{{ name }}` as its fallback word (or nothing), no footer of a person, no unsubscribe
link. It exists once the campaign has started sending (a draft's link, as in a test send,
shows "not available yet"). The archive lists the campaigns the admin published, newest
first, each linking to its web version in the visitor's language where it has one.
Domain functions flush, never commit.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup
from sqlalchemy import select

from . import i18n, links, models, personalise, tokens
from .clock import utcnow
from .extensions import db
from .models import Campaign, CampaignStatus, PublishedCampaign


class NotAvailable(Exception):
    """No web version behind this link: tampered, unknown campaign, or not sent yet."""


@dataclass(frozen=True)
class WebVersion:
    """A campaign's text in one language, ready to show to anyone."""

    campaign_id: int
    language: str  # the language of the text shown
    subject: str
    preheader: str
    body_html: Markup
    sent_at: datetime | None


# --- the link ------------------------------------------------------------------------------


def token_for(campaign_id: int, language: str) -> str:
    """The token of the web version of `campaign_id` in `language` (no subscriber in it)."""
    return tokens.sign(tokens.WEB_VERSION, [campaign_id, language])


def view_url(campaign_id: int | None, language: str) -> str | None:
    """The "view in browser" link of a campaign's messages in `language`; None for a
    campaign not saved yet (the compose page's live preview)."""
    if campaign_id is None:
        return None
    return links.public_url("webversion.view", token=token_for(campaign_id, language))


def read_token(token: str) -> tuple[int, str]:
    """(campaign id, language) of a web-version token; NotAvailable when tampered."""
    try:
        payload = tokens.verify(tokens.WEB_VERSION, token)
    except tokens.InvalidTokenError as exc:
        raise NotAvailable("tampered") from exc
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        raise NotAvailable("malformed")
    return payload[0], i18n.normalize_locale(str(payload[1])) or i18n.DEFAULT


# --- the text in one language --------------------------------------------------------------


def versions(campaign: Campaign) -> dict[str, tuple[str, str, str]]:
    """{language: (subject, preheader, body)} of every language the campaign is written in:
    its main text, and the per-language versions when the installation has them."""
    main = i18n.normalize_locale(getattr(campaign, "locale", None)) or i18n.DEFAULT
    found = {main: (campaign.subject, campaign.preheader or "", campaign.body_markdown)}
    version_model = getattr(models, "CampaignVersion", None)
    if version_model is not None:
        rows = db.session.scalars(
            select(version_model).where(version_model.campaign_id == campaign.id)
        )
        for row in rows:
            language = i18n.normalize_locale(row.locale)
            if language:
                found.setdefault(language, (row.subject, row.preheader or "", row.body_markdown))
    return found


def language_shown(campaign: Campaign, language: str) -> str:
    """The language of the text a recipient in `language` gets: their own when the
    campaign has it, else the default language's, else the campaign's main text."""
    written = versions(campaign)
    if language in written:
        return language
    if i18n.DEFAULT in written:
        return i18n.DEFAULT
    return next(iter(written))


def is_viewable(campaign: Campaign | None) -> bool:
    """Has this campaign's mail gone out (so that its web version may be shown)?"""
    return campaign is not None and campaign.started_at is not None


def web_version(campaign: Campaign, language: str) -> WebVersion:
    """The campaign as a recipient in `language` read it, with no personal data: the
    author's text sanitised as in the mail, `{{ name }}` as its fallback or nothing."""
    from . import messages  # messages links to the web version: imported when used

    shown = language_shown(campaign, language)
    subject, preheader, body = versions(campaign)[shown]
    page = personalise.apply_html(messages.render_body(body), None)
    return WebVersion(
        campaign_id=campaign.id,
        language=shown,
        subject=personalise.apply(subject, None),
        preheader=personalise.apply(preheader, None),
        body_html=Markup(page),
        sent_at=campaign.started_at,
    )


def from_token(token: str, language: str | None = None) -> tuple[WebVersion, str]:
    """(the web version a link names, the page's language): the link's language, or
    `language` when given (the page's own language switch). The text is the one a
    recipient in that language got (`WebVersion.language` says which). NotAvailable
    when tampered, unknown or not sent."""
    campaign_id, token_language = read_token(token)
    campaign = db.session.get(Campaign, campaign_id)
    if not is_viewable(campaign):
        raise NotAvailable("not sent")
    page_language = i18n.normalize_locale(language) or token_language
    return web_version(campaign, page_language), page_language


# --- the archive ---------------------------------------------------------------------------


class ArchiveError(Exception):
    """The campaign cannot be published (not sent yet); the text says why."""


def is_published(campaign: Campaign) -> bool:
    return db.session.get(PublishedCampaign, campaign.id) is not None


def publish(campaign: Campaign) -> bool:
    """Show a sent campaign in the archive; False when it already was."""
    if campaign.status not in (CampaignStatus.SENT, CampaignStatus.SENDING):
        raise ArchiveError("Only a campaign that has been sent can be published in the archive.")
    if is_published(campaign):
        return False
    db.session.add(PublishedCampaign(campaign_id=campaign.id, published_at=utcnow()))
    db.session.flush()
    return True


def unpublish(campaign: Campaign) -> bool:
    """Take a campaign out of the archive (its web version link keeps working: it was
    in the mail); False when it was not published."""
    found = db.session.get(PublishedCampaign, campaign.id)
    if found is None:
        return False
    db.session.delete(found)
    db.session.flush()
    return True


@dataclass(frozen=True)
class ArchiveEntry:
    """One published campaign as the archive shows it, in one visitor's language."""

    version: WebVersion
    url: str  # its web version

    @property
    def updated(self) -> datetime:
        return self.version.sent_at or utcnow()


def archive(language: str, limit: int = 200) -> list[ArchiveEntry]:
    """The published campaigns, newest sent first, each in `language` where it has it."""
    rows = db.session.scalars(
        select(Campaign)
        .join(PublishedCampaign, PublishedCampaign.campaign_id == Campaign.id)
        .where(Campaign.started_at.is_not(None))
        .order_by(Campaign.started_at.desc(), Campaign.id.desc())
        .limit(limit)
    )
    return [ArchiveEntry(web_version(c, language), view_url(c.id, language) or "") for c in rows]


ATOM = "http://www.w3.org/2005/Atom"


def atom_feed(entries: list[ArchiveEntry], language: str, title: str, organization: str) -> bytes:
    """The archive as an Atom feed (RFC 4287): one entry per campaign, its web version as
    the link and its text as the content."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": language})
    feed_url = links.public_url("webversion.feed", lang=language)
    _sub(feed, "id", feed_url)
    _sub(feed, "title", title)
    newest = max((e.updated for e in entries), default=utcnow())
    _sub(feed, "updated", _rfc3339(newest))
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _sub(author, "name", organization)
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": feed_url})
    archive_url = links.public_url("webversion.archive", lang=language)
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": archive_url})
    for entry in entries:
        item = ET.SubElement(feed, f"{{{ATOM}}}entry")
        campaign_id = entry.version.campaign_id
        _sub(item, "id", f"{links.public_url('webversion.archive')}#campaign-{campaign_id}")
        _sub(item, "title", entry.version.subject)
        _sub(item, "updated", _rfc3339(entry.updated))
        ET.SubElement(item, f"{{{ATOM}}}link", {"rel": "alternate", "href": entry.url})
        if entry.version.preheader:
            _sub(item, "summary", entry.version.preheader)
        content = _sub(item, "content", str(entry.version.body_html))
        content.set("type", "html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}")
    element.text = text
    return element


def _rfc3339(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
