"""Build marketing messages: one campaign prepared once, then one message per recipient.

Everything that is the same for every recipient is prepared once per campaign version
and footer language (`prepare`): the author's Markdown rendered and sanitised
(`message_body`), the layout rendered with placeholders, CSS inlined, the system footer
(`footer`), the header block (`headers`) and MIME skeleton as text. Per recipient
(`PreparedCampaign.build`) only the links, the To header, the "why you get this" line,
the Message-ID and the DKIM signature are filled in, by string joins, not by the
`email` package (about 1.6 ms a message; this path is far below that).

The names of `message_body`, `footer` and `headers` that callers used from here are
re-exported below (`messages.render_body`, `messages.FOOTER_MARK`, ...).
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import css_inline
from flask import current_app, render_template
from flask_babel import force_locale
from markupsafe import Markup

from . import (
    campaign_figures,
    campaign_versions,
    clock,
    links,
    personalise,
    tokens,
    topic_translations,
    webversion,
)
from .campaign_versions import Version
from .clock import utcnow
from .footer import (  # noqa: F401 - re-exported
    FOOTER_A_STYLE,
    FOOTER_BACKGROUND,
    FOOTER_BOX_STYLE,
    FOOTER_FONT_PX,
    FOOTER_LINK_COLOR,
    FOOTER_MARK,
    FOOTER_P_STYLE,
    FOOTER_TEXT_COLOR,
    SLOTS,
    TEXT_FOOTER_START,
    footer_html,
    footer_patterns,
    footer_text,
    place_footer,
    reason_line,
    reason_phrases,
)
from .headers import (  # noqa: F401 - re-exported
    CRLF,
    NOT_IN_HEADER,
    WORD_BYTES,
    clean_header_text,
    date_header_value,
    display_name,
    encoded_header,
    encoded_words,
    head_after_to,
    host_name,
    list_id,
    mailbox_header,
    sender_header,
    unsubscribe_mailto,
)
from .message_body import (  # noqa: F401 - re-exported
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    URL_SCHEMES,
    html_to_text,
    render_body,
    tracking_images_removed,
)
from .models import Basis, Campaign
from .slots import Slotted, head_skeleton, slot_markers

TOKEN_MARK = "NLTOKENMARK"  # stands for a token while the fixed part of a link is built
MAX_CACHED_REASONS = 5000


class MessageError(Exception):
    """A message cannot be built for this recipient or campaign; the text says why."""


@dataclass(frozen=True)
class Recipient:
    """What a message needs to know about its recipient (no ORM object: cheap to make)."""

    email: str
    name: str | None
    public_id: str
    basis: str
    since: datetime | None  # date of consent, or of the purchase for existing customers
    locale: str = "en"  # the footer's language
    # The suppression hash of `email` when the sender already made it (not compared).
    hashed: str = field(default="", compare=False, repr=False)


SAMPLE_PUBLIC_ID = "sample"  # no subscriber has it: a sample's links lead nowhere


def sample_recipient(locale: str = "en") -> Recipient:
    """The recipient of previews and test sends in `locale`: not a real subscriber."""
    return Recipient(
        "sample@example.org", "Sample Recipient", SAMPLE_PUBLIC_ID, Basis.CONSENT, utcnow(), locale
    )


class _SystemOnly:
    """What a layout gets in place of a footer value: the footer is the system's, so a
    layout that prints one (an old layout with its own, perhaps hidden, footer) cannot
    be used, and says so in plain words."""

    def __init__(self, name: str):
        self.name = name

    def _refuse(self):
        raise MessageError(
            f"templates/email/layout.html or layout.txt prints {{{{ {self.name} }}}}: the "
            "footer (reason line, unsubscribe and preferences links, sender's name and "
            "address) is added by the system after the layout's content, in a block the "
            "layout cannot hide or restyle; remove the layout's own footer (SPEC rule 4)"
        )

    def __str__(self):
        self._refuse()

    def __html__(self):
        self._refuse()


_SYSTEM_ONLY = ("reason", "unsubscribe_url", "preferences_url")


def _render_layout(
    campaign: Campaign,
    version: Version,
    body_html: str,
    markers: dict[str, str],
    footer_locale: str,
) -> tuple[str, str]:
    """The layout around the author's content, then the system footer after it.

    The page is in the recipient's language (`footer_locale`: `<html lang>`, the footer);
    a version in another language (the default's, for want of theirs) is marked with its
    own `lang` around the author's content.
    The layout's CSS is inlined (css-inline drops every <style> and <link>, and re-writes
    the page as a well-formed tree, so nothing the layout leaves open or commented out
    reaches past its own </body>); only then is the footer placed, as the last thing in
    <body>, with its own inline styles. No selector of the layout ever applies to it.
    """
    config = current_app.config
    context = {
        "subject": version.subject,
        "preheader": version.preheader,
        "organization_name": config["ORGANIZATION_NAME"],
        "organization_address": config["ORGANIZATION_ADDRESS"],
        "privacy_url": links.privacy_url(),
        "view_url": webversion.view_url(campaign.id, footer_locale),  # no personal data
        **{name: _SystemOnly(name) for name in _SYSTEM_ONLY},
    }
    content = body_html
    if version.locale != footer_locale:
        content = f'<div lang="{html.escape(version.locale)}">{body_html}</div>'
    with force_locale(footer_locale):
        page = render_template("email/layout.html", content=Markup(content), **context)
        page = css_inline.inline(page, load_remote_stylesheets=False)
        values = {name: markers[name] for name in SLOTS}
        page = place_footer(page, footer_html(values))
        text = render_template("email/layout.txt", content=html_to_text(body_html), **context)
        text = text.rstrip() + "\n\n" + footer_text(values)
    return page, text


def _to_header(recipient: Recipient) -> str:
    address = recipient.email
    if not address.isascii() or NOT_IN_HEADER.search(address):
        raise MessageError(
            'the address cannot be written into a mail header (it has spaces, <>,;" or '
            "non-ASCII letters): correct the subscriber's address"
        )
    return mailbox_header(recipient.name, address, "To")


# --- one campaign, prepared --------------------------------------------------------------


@dataclass(frozen=True)
class Composed:
    """One message as built: its header block, the text and HTML bodies it encodes, the
    whole message as bytes (without the DKIM signature), and the values its three
    skeletons were filled with (`values`: head, text, HTML; the rule-4 check reads them)."""

    head: str
    text: str
    page: str
    raw: bytes
    values: tuple[dict, dict, dict] = ({}, {}, {})


@dataclass
class PreparedCampaign:
    """What is the same for every message of a campaign, ready for `build`: three
    skeletons (`Slotted`: the header block, the text and the HTML page) that each message
    fills with its recipient's values."""

    campaign_id: int
    locale: str
    topic_name: str
    organization: str
    envelope_from: str
    head: Slotted
    html: Slotted
    text: Slotted
    boundary: str
    domain: str
    subject: str
    signer: object | None = None
    # Links are a fixed prefix and a signed token: the URL is built once, not per message.
    unsubscribe_prefix: str = ""
    preferences_prefix: str = ""
    reasons: dict = field(default_factory=dict)
    unsubscribe_suffix: str = ""  # `?c=`: counts the opt-out for the campaign (figures)
    personal: bool = False  # the texts hold `{{ name }}`: personalised per message
    names: tuple[dict, dict] = ({}, {})  # the name slots of html, text (personalise.mark)
    personal_subject: bool = False  # the subject holds `{{ name }}`: a slot of `head`
    sign_unsubscribe: Callable[[str], str] = field(
        default_factory=lambda: tokens.link_signer(tokens.UNSUBSCRIBE)
    )
    sign_preferences: Callable[[str], str] = field(
        default_factory=lambda: tokens.link_signer(tokens.PREFERENCES)
    )
    date: tuple[int, str] = (0, "")  # the Date header of the current second
    zone: tzinfo = field(default_factory=clock.zone)  # the shop's, for the reason line's day
    content_locale: str = ""  # the language of the version it was made from

    def fill(self, recipient: Recipient) -> tuple[str, str, dict[str, str], dict[str, str]]:
        """(html, text) of one recipient's message, and the values of their slots (text,
        HTML)."""
        text_values, page_values = self.slot_values(recipient)
        return self.html.fill(page_values), self.text.fill(text_values), text_values, page_values

    def slot_values(self, recipient: Recipient) -> tuple[dict[str, str], dict[str, str]]:
        """The values of one recipient's text and HTML slots: links, reason line, name."""
        unsubscribe = self.unsubscribe_prefix + self.sign_unsubscribe(recipient.public_id)
        unsubscribe += self.unsubscribe_suffix
        preferences = self.preferences_prefix + self.sign_preferences(recipient.public_id)
        reason = self.reason(recipient)
        plain = {"unsubscribe_url": unsubscribe, "preferences_url": preferences, "reason": reason}
        escaped = {key: html.escape(value) for key, value in plain.items()}
        if self.personal:  # issue 16: the greeting, in slots like the links
            names_html, names_text = self.names
            plain |= personalise.values(names_text, recipient.name, False)
            escaped |= personalise.values(names_html, recipient.name, True)
        return plain, escaped

    def reason(self, recipient: Recipient) -> str:
        """The reason line; it depends only on the basis and the day, so it is kept per
        (basis, day): a few hundred distinct lines for a list of any size."""
        day = (
            clock.as_utc(recipient.since).astimezone(self.zone).date() if recipient.since else None
        )
        key = (recipient.basis, day)
        line = self.reasons.get(key)
        if line is None:
            with force_locale(self.locale):
                line = reason_line(recipient, self.topic_name, self.organization)
            if len(self.reasons) < MAX_CACHED_REASONS:
                self.reasons[key] = line
        return line

    def build(self, recipient: Recipient, unique: str | None = None) -> bytes:
        """The complete message for one recipient, as bytes ready for SMTP (signed when
        DKIM is configured)."""
        return self.sign(self.compose(recipient, unique).raw)

    def compose(self, recipient: Recipient, unique: str | None = None) -> Composed:
        """One recipient's message, unsigned, with the texts and values it was made of
        (the sender runs the rule-4 check on those, then signs)."""
        page, text, text_values, page_values = self.fill(recipient)
        unsubscribe = text_values["unsubscribe_url"]
        unique = f"{unique or secrets.token_hex(12)}.{secrets.token_hex(6)}"
        head_values = {
            "to": _to_header(recipient),
            "date": self.date_header(),
            "message_id": f"<{unique}@{self.domain}>",
            "preferences_url": text_values["preferences_url"],
            "unsubscribe_url": unsubscribe,
            "token": unsubscribe.rsplit("/", 1)[1].split("?")[0],  # URL-safe: as it is
        }
        if self.personal_subject:  # header-safe: `encoded_header` keeps it one header
            subject = personalise.apply(self.subject, recipient.name)
            head_values["subject"] = encoded_header(subject, "Subject")
        head = self.head.fill(head_values)
        body = (
            f"--{self.boundary}{CRLF}"
            f'Content-Type: text/plain; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
            f"{self.text.base64(text)}"
            f"--{self.boundary}{CRLF}"
            f'Content-Type: text/html; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
            f"{self.html.base64(page)}"
            f"--{self.boundary}--{CRLF}"
        )
        raw = (head + CRLF + body).encode("ascii")
        return Composed(head, text, page, raw, (head_values, text_values, page_values))

    def date_header(self) -> str:
        """Now, as a Date header value with a numeric zone (`+0000`: RFC 5322 3.3; the
        `GMT` name is obsolete syntax); made once a second, not once a message."""
        second = int(utcnow().timestamp())
        if self.date[0] != second:
            self.date = (second, date_header_value(datetime.fromtimestamp(second, UTC)))
        return self.date[1]

    def sign(self, raw: bytes) -> bytes:
        """`raw` with its DKIM-Signature header, when DKIM is configured."""
        return raw if self.signer is None else self.signer.sign(raw)


def prepare(
    campaign: Campaign,
    subject_prefix: str = "",
    locale: str = "en",
    version: Version | None = None,
) -> PreparedCampaign:
    """Prepare a campaign once for all its messages whose footer is in `locale`, from
    `version` (by default the campaign's version for that language: its own, else the
    default language's, else the main one; `campaign_versions.version_for`)."""
    from .sending import signing

    version = version or campaign_versions.version_for(campaign, locale)
    markers = slot_markers()
    page, text = _render_layout(
        campaign, version, render_body(version.body_markdown), markers, locale
    )
    page, names_html = personalise.mark(page)  # `{{ name }}`: slots filled per message
    text, names_text = personalise.mark(text)
    subject = f"{subject_prefix}{version.subject}"
    boundary = f"=_nl_{secrets.token_hex(12)}"
    from_header, envelope_from = sender_header()
    personal_subject = personalise.has_placeholder(subject)
    head = head_skeleton(
        f"From: {from_header}{CRLF}",
        None if personal_subject else encoded_header(subject, "Subject"),
        head_after_to(campaign.topic, locale, boundary),
        unsubscribe_mailto(TOKEN_MARK).removesuffix(TOKEN_MARK),
    )
    return PreparedCampaign(
        campaign_id=campaign.id,
        locale=locale,
        topic_name=topic_translations.name(campaign.topic, locale),  # issue 15
        organization=current_app.config["ORGANIZATION_NAME"],
        envelope_from=envelope_from,
        head=head,
        html=Slotted(page, markers | names_html),
        text=Slotted(text, markers | names_text),
        boundary=boundary,
        domain=host_name(),
        subject=subject,
        signer=signing.signer_from_config(),
        unsubscribe_prefix=_link_prefix("public.unsubscribe"),
        preferences_prefix=_link_prefix("public.preferences"),
        content_locale=version.locale,
        unsubscribe_suffix=campaign_figures.link_suffix(campaign.id),
        personal=bool(names_html or names_text),
        names=(names_html, names_text),
        personal_subject=personal_subject,
    )


def _link_prefix(endpoint: str) -> str:
    """The absolute URL of `endpoint` up to its token (tokens are URL-safe as they are)."""
    url = links.public_url(endpoint, token=TOKEN_MARK)
    if not url.endswith(TOKEN_MARK):
        raise RuntimeError(f"the URL of {endpoint} does not end with its token")
    return url.removesuffix(TOKEN_MARK)
