"""Build marketing messages: layout, system footer, headers, DKIM.

Everything that is the same for every recipient is prepared once per campaign
(`prepare`): the author's Markdown rendered and sanitised, the layout rendered with
placeholders, CSS inlined, the header block and MIME skeleton as text. Per recipient
(`PreparedCampaign.build`) only the links, the To header, the "why you get this" line,
the Message-ID and the DKIM signature are filled in, by string joins, not by the
`email` package (about 1.6 ms a message; this path is far below that).

The author's text is never evaluated as a template: it is Markdown turned into HTML,
sanitised with nh3, and inserted into the layout as data.
"""

from __future__ import annotations

import base64
import html
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, parseaddr
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import css_inline
import markdown
import nh3
from babel.dates import format_date
from flask import current_app, render_template
from flask_babel import force_locale, get_locale, gettext
from markupsafe import Markup

from . import clock, links, tokens, topic_translations
from .clock import utcnow
from .models import Basis, Campaign, Topic

# What an author may use in a message body. No script, style, forms, frames or event
# handlers; links only to http(s) and mailto (nh3 drops javascript: and data: URLs).
ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "hr", "i", "img",
    "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
URL_SCHEMES = {"http", "https", "mailto"}

# The per-recipient values a prepared campaign fills in.
SLOTS = ("unsubscribe_url", "preferences_url", "reason")

CRLF = "\r\n"
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


SAMPLE_PUBLIC_ID = "sample"  # no subscriber has it: a sample's links lead nowhere


def sample_recipient(locale: str = "en") -> Recipient:
    """The recipient of previews and test sends in `locale`: not a real subscriber."""
    return Recipient(
        "sample@example.org", "Sample Recipient", SAMPLE_PUBLIC_ID, Basis.CONSENT, utcnow(), locale
    )


# --- the author's text -------------------------------------------------------------------


def render_body(body_markdown: str) -> str:
    """Markdown to sanitised HTML: no script, no event handlers, no javascript: URLs, and
    no tracking images (removed: `compliance.is_tracking_image`; docs/SENDING.md)."""
    raw = markdown.markdown(body_markdown or "", extensions=["extra", "sane_lists"])
    clean = nh3.clean(
        raw, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES
    )
    return _IMAGE.sub(_without_tracking, clean)


_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r'([a-zA-Z-]+)="([^"]*)"')


def _without_tracking(found: re.Match) -> str:
    """An image as nh3 wrote it (attributes double-quoted), or nothing when it tracks."""
    from .compliance import is_tracking_image

    values = {name.lower(): html.unescape(value) for name, value in _ATTRIBUTE.findall(found[0])}
    if is_tracking_image(values.get("src", ""), values.get("width"), values.get("height")):
        return ""
    return found[0]


def tracking_images_removed(body_markdown: str) -> list[str]:
    """The addresses of the tracking images `render_body` leaves out of this text (the
    compose preview names them)."""
    from .compliance import is_tracking_image

    raw = markdown.markdown(body_markdown or "", extensions=["extra", "sane_lists"])
    clean = nh3.clean(
        raw, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES
    )
    removed = []
    for tag in _IMAGE.findall(clean):
        values = {n.lower(): html.unescape(v) for n, v in _ATTRIBUTE.findall(tag)}
        if is_tracking_image(values.get("src", ""), values.get("width"), values.get("height")):
            removed.append(values.get("src", ""))
    return removed


class _TextConverter(HTMLParser):
    """Sanitised HTML to a readable plain-text alternative (links shown as URLs)."""

    BLOCKS = {"p", "h1", "h2", "h3", "h4", "blockquote", "pre", "table", "ul", "ol", "hr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag == "br" or tag == "tr":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "img":
            self.out.append(dict(attrs).get("alt") or "")
        if tag == "a":
            self.href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag):
        if tag == "a" and self.href:
            href = self.href.pop()
            if href:
                self.out.append(f" <{href}>")
        elif tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag in ("td", "th"):
            self.out.append("  ")

    def handle_data(self, data):
        self.out.append(data)

    def text(self) -> str:
        joined = "".join(self.out)
        return re.sub(r"\n{3,}", "\n\n", joined).strip()


def html_to_text(sanitised_html: str) -> str:
    """The plain-text alternative of a sanitised body."""
    converter = _TextConverter()
    converter.feed(sanitised_html)
    converter.close()
    return converter.text()


# --- templates with placeholders ---------------------------------------------------------


class _Slotted:
    """A text with named placeholders, split once, filled by a join."""

    def __init__(self, text: str, markers: dict[str, str]):
        by_marker = {marker: name for name, marker in markers.items()}
        pattern = "(" + "|".join(re.escape(m) for m in by_marker) + ")"
        parts = re.split(pattern, text)
        self.parts = [(by_marker.get(p) is not None, by_marker.get(p, p)) for p in parts]

    def fill(self, values: dict[str, str]) -> str:
        return "".join(values[p] if is_slot else p for is_slot, p in self.parts)


def _markers() -> dict[str, str]:
    # Letters and digits only: they survive HTML escaping and CSS inlining unchanged,
    # and the random part means an author cannot type one into a body.
    nonce = secrets.token_hex(8)
    return {name: f"NLSLOT{nonce}{name.replace('_', '')}" for name in SLOTS}


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


def _render_layout(campaign: Campaign, body_html: str, markers: dict[str, str]) -> tuple[str, str]:
    """The layout around the author's content, then the system footer after it.

    The layout's CSS is inlined (css-inline drops every <style> and <link>, and re-writes
    the page as a well-formed tree, so nothing the layout leaves open or commented out
    reaches past its own </body>); only then is the footer placed, as the last thing in
    <body>, with its own inline styles. No selector of the layout ever applies to it.
    """
    config = current_app.config
    context = {
        "subject": campaign.subject,
        "preheader": campaign.preheader,
        "organization_name": config["ORGANIZATION_NAME"],
        "organization_address": config["ORGANIZATION_ADDRESS"],
        "privacy_url": links.privacy_url(),
        **{name: _SystemOnly(name) for name in _SYSTEM_ONLY},
    }
    page = render_template("email/layout.html", content=Markup(body_html), **context)
    page = css_inline.inline(page, load_remote_stylesheets=False)
    values = {name: markers[name] for name in SLOTS}
    page = _place_footer(page, footer_html(values))
    text = render_template("email/layout.txt", content=html_to_text(body_html), **context)
    text = text.rstrip() + "\n\n" + footer_text(values)
    return page, text


# --- the system footer -------------------------------------------------------------------

# The footer block: a fixed structure with its own inline styles (dark grey on white,
# 14 px: a contrast of 12.6:1; links 7.6:1, WCAG AA asks 4.5:1). The check in
# compliance.py requires this block verbatim, as the last thing in <body>.
FOOTER_MARK = 'data-newsletter-footer="system"'
FOOTER_TEXT_COLOR, FOOTER_BACKGROUND, FOOTER_LINK_COLOR = "#333333", "#ffffff", "#1a4fa0"
FOOTER_FONT_PX = 14
_PINNED = (
    f"font-family:Arial,Helvetica,sans-serif;font-size:{FOOTER_FONT_PX}px;line-height:1.5;"
    f"color:{FOOTER_TEXT_COLOR};"
)
FOOTER_BOX_STYLE = (
    f"display:block;visibility:visible;opacity:1;{_PINNED}margin:16px 0 0 0;padding:16px;"
    f"background-color:{FOOTER_BACKGROUND};text-align:left;"
)
FOOTER_P_STYLE = f"{_PINNED}margin:0 0 8px 0;"
FOOTER_A_STYLE = (
    f"color:{FOOTER_LINK_COLOR};font-size:{FOOTER_FONT_PX}px;text-decoration:underline;"
)
TEXT_FOOTER_START = "-- \n"  # the usual signature separator: the text part's footer follows


def _footer_words() -> dict[str, str]:
    """The footer's fixed words and the sender's identity, escaped for HTML."""
    config = current_app.config
    return {
        "unsubscribe": gettext("Unsubscribe from all marketing"),
        "preferences": gettext("Manage my preferences"),
        "privacy": gettext("Privacy notice"),
        "privacy_url": links.privacy_url(),
        "identity": f"{config['ORGANIZATION_NAME']}, {config['ORGANIZATION_ADDRESS']}",
    }


def footer_html(values: dict[str, str]) -> str:
    """The system footer's HTML block; `values` are the per-recipient values (HTML-escaped
    or placeholders). Call it inside `force_locale`."""
    words = {k: html.escape(v) for k, v in _footer_words().items()}
    a = FOOTER_A_STYLE
    return (
        f'<div {FOOTER_MARK} lang="{html.escape(str(get_locale()))}" style="{FOOTER_BOX_STYLE}">'
        f'<p style="{FOOTER_P_STYLE}">{values["reason"]}</p>'
        f'<p style="{FOOTER_P_STYLE}">'
        f'<a href="{values["unsubscribe_url"]}" style="{a}">{words["unsubscribe"]}</a> \u00b7 '
        f'<a href="{values["preferences_url"]}" style="{a}">{words["preferences"]}</a> \u00b7 '
        f'<a href="{words["privacy_url"]}" style="{a}">{words["privacy"]}</a></p>'
        f'<p style="{FOOTER_P_STYLE}">{words["identity"]}</p>'
        "</div>"
    )


def footer_text(values: dict[str, str]) -> str:
    """The system footer of the text part (the values as they are, not escaped)."""
    words = _footer_words()
    return (
        f"{TEXT_FOOTER_START}{values['reason']}\n\n"
        f"{words['unsubscribe']}: {values['unsubscribe_url']}\n"
        f"{words['preferences']}: {values['preferences_url']}\n"
        f"{words['privacy']}: {words['privacy_url']}\n\n"
        f"{words['identity']}\n"
    )


_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _place_footer(page: str, footer: str) -> str:
    """The footer as the last thing in <body> (css-inline always writes one)."""
    ends = list(_BODY_END.finditer(page))
    at = ends[-1].start() if ends else len(page)
    return page[:at] + footer + page[at:]


_FOOTER_PATTERNS: dict[tuple, tuple[re.Pattern, re.Pattern]] = {}


def footer_patterns(language: str) -> tuple[re.Pattern, re.Pattern]:
    """(HTML, text) patterns of the system footer in `language`, with the per-recipient
    values as named groups: what the rule-4 check requires, verbatim."""
    config = current_app.config
    key = (language, config["ORGANIZATION_NAME"], config["ORGANIZATION_ADDRESS"])
    key += (links.privacy_url(),)
    found = _FOOTER_PATTERNS.get(key)
    if found is None:
        marks = {name: f"NLFOOTER{name.replace('_', '')}MARK" for name in SLOTS}
        with force_locale(language):
            page, text = footer_html(marks), footer_text(marks)
        html_groups = {"reason": "[^<>]*", "unsubscribe_url": '[^"<>]*'}
        html_groups["preferences_url"] = '[^"<>]*'
        found = (
            re.compile(_with_groups(page, marks, html_groups)),
            re.compile(_with_groups(text, marks, dict.fromkeys(SLOTS, "[^\n]*"))),
        )
        if len(_FOOTER_PATTERNS) > 64:
            _FOOTER_PATTERNS.clear()
        _FOOTER_PATTERNS[key] = found
    return found


def _with_groups(text: str, marks: dict[str, str], groups: dict[str, str]) -> str:
    pattern = re.escape(text)
    for name, mark in marks.items():
        pattern = pattern.replace(re.escape(mark), f"(?P<{name}>{groups[name]})", 1)
    return pattern


# --- headers -----------------------------------------------------------------------------


def clean_header_text(value: str | None) -> str:
    """Collapse every run of whitespace, CR and LF included, to one space."""
    return " ".join((value or "").split())


def _encoded(value: str, name: str) -> str:
    """A header value, RFC 2047-encoded when not ASCII, folded below 78 columns."""
    value = clean_header_text(value)
    if not value.isascii():
        return encoded_words(value)
    return Header(value, "us-ascii", header_name=name).encode(linesep=CRLF)


WORD_BYTES = 42  # 56 base64 characters: an encoded-word of 68, a line of at most 74


def encoded_words(value: str) -> str:
    """`value` as RFC 2047 "B" encoded-words of UTF-8, each at most 75 characters (§2) and
    on a line of its own, folded (the `email` package's Header makes words of 76).

    Words end after a space of the text where they can (the space inside the word: the
    folding between two encoded-words is not part of the text, §6.2), and are cut
    between characters, never inside one, only where a run without spaces is longer
    than a word. (Python's own address parser adds a space between adjacent
    encoded-words of a display name, against §6.2: ending words at spaces keeps its
    reading to a doubled space at most.)"""
    words, chunk = [], b""
    for piece in re.split(r"(?<= )", value):
        encoded = piece.encode("utf-8")
        if chunk and len(chunk) + len(encoded) > WORD_BYTES:
            words.append(chunk)
            chunk = b""
        # A run too long for one word is cut between its characters.
        for part in list(piece) if len(encoded) > WORD_BYTES else [piece]:
            octets = part.encode("utf-8")
            if chunk and len(chunk) + len(octets) > WORD_BYTES:
                words.append(chunk)
                chunk = b""
            chunk += octets
    words.append(chunk)
    return (CRLF + " ").join(
        f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words if word
    )


def host_name() -> str:
    """The public site's host name: the domain of Message-IDs and List-Ids."""
    return urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"


def list_id(topic: Topic, language: str | None = None) -> str:
    """A List-Id stable per topic (RFC 2919): `Name <slug.host>`; the label (the name)
    in the message's language, the id itself the same in every language."""
    label = topic_translations.name(topic, language) if language else topic.name
    return f"{_encoded(label, 'List-Id')} <{topic.slug}.{host_name()}>"


def unsubscribe_mailto(token: str) -> str:
    """The mailto alternative of List-Unsubscribe (see docs/SENDING.md, "mailto").

    UNSUBSCRIBE_MAILTO, or unsubscribe@ the sender's domain; the subject carries the
    same signed token as the https link, so a request can be matched without the address.
    """
    config = current_app.config
    address = config.get("UNSUBSCRIBE_MAILTO")
    if not address:
        sender = config["MAIL_DEFAULT_SENDER"]
        sender = sender[1] if isinstance(sender, list | tuple) else sender
        address = "unsubscribe@" + parseaddr(sender)[1].rpartition("@")[2]
    return f"mailto:{address}?subject={quote('unsubscribe ' + token)}"


def _sender() -> tuple[str, str]:
    """(From header value, envelope sender) from MAIL_DEFAULT_SENDER."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    name, address = sender if isinstance(sender, list | tuple) else parseaddr(sender)
    return mailbox_header(name, address, "From"), address


_NOT_IN_HEADER = re.compile(r'[\s<>,;"]')  # beside non-ASCII: would need quoting or SMTPUTF8
# atext and spaces (RFC 5322 3.2.3): a display name of only these may stand as it is.
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")


def display_name(name: str | None, header_name: str = "To") -> str:
    """A display name as RFC 5322 and RFC 2047 want it: plain words as they are; other
    ASCII as a quoted-string; non-ASCII, and a name that looks like an encoded-word
    (`=?utf-8?q?x?=`, which must show as typed, never decoded), as encoded-words of at
    most 75 characters each, folded onto lines of their own (RFC 2047 §2, §5), never
    one long word."""
    name = clean_header_text(name)
    if not name:
        return ""
    if not name.isascii() or "=?" in name:
        # Encoded, not quoted, when it looks like an encoded-word: parsers such as
        # Python's decode encoded-words even inside quotes; this way every one shows
        # the name as typed.
        return encoded_words(name)
    if not _PLAIN_PHRASE.fullmatch(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _fold_at_spaces(name, len(header_name) + 2)


def _fold_at_spaces(value: str, start: int) -> str:
    """Fold a long ASCII value at its spaces (folding whitespace is allowed between
    words and inside a quoted-string, RFC 5322 3.2.2 and 3.2.4)."""
    lines, line = [], ""
    for word in value.split(" "):
        if line and start + len(line) + 1 + len(word) > 78:
            lines.append(line)
            line, start = word, 1
        else:
            line = f"{line} {word}" if line else word
    return (CRLF + " ").join([*lines, line])


def mailbox_header(name: str | None, address: str, header_name: str = "To") -> str:
    """`Name <address>` (or the bare address) for a From or To header, folded when the
    name is long: a line stays within 78 characters where it can (RFC 5322 2.1.1)."""
    phrase = display_name(name, header_name)
    if not phrase:
        return address
    last_line = phrase.rsplit(CRLF, 1)[-1]
    start = len(header_name) + 2 if CRLF not in phrase else 0
    if start + len(last_line) + len(address) + 3 > 78:
        return f"{phrase}{CRLF} <{address}>"
    return f"{phrase} <{address}>"


def _to_header(recipient: Recipient) -> str:
    address = recipient.email
    if not address.isascii() or _NOT_IN_HEADER.search(address):
        raise MessageError(
            'the address cannot be written into a mail header (it has spaces, <>,;" or '
            "non-ASCII letters): correct the subscriber's address"
        )
    return mailbox_header(recipient.name, address, "To")


def _base64_lines(text: str) -> str:
    return base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", CRLF)


def date_header_value(moment: datetime) -> str:
    """A Date header value in UTC with the numeric zone `+0000` (RFC 5322 3.3)."""
    return format_datetime(moment.astimezone(UTC))


# --- the reason line ---------------------------------------------------------------------


def reason_line(recipient: Recipient, topic_name: str, organization: str) -> str:
    """Why this person gets this message: the real basis and its date (SPEC footer).

    In the recipient's language; call it inside `force_locale(recipient.locale)`.
    """
    if recipient.since:
        day = format_date(clock.local(recipient.since), format="long", locale=recipient.locale)
    else:
        day = gettext("an unknown date")
    return _reason_text(recipient.basis, organization, day, topic_name)


def _reason_text(basis: str, organization: str, day: str, topic: str) -> str:
    if basis == Basis.EXISTING_CUSTOMER:
        return gettext(
            "You receive this email because you bought from %(organization)s (purchase on "
            "%(day)s) and the list \u201c%(topic)s\u201d is about our own similar products. "
            "You can object at any time, free of charge.",
            organization=organization,
            day=day,
            topic=topic,
        )
    return gettext(
        "You receive this email because you subscribed to \u201c%(topic)s\u201d and "
        "confirmed your consent on %(day)s. You can withdraw it at any time.",
        topic=topic,
        day=day,
    )


_PHRASES: dict[str, tuple[str, ...]] = {}


def reason_phrases(language: str) -> tuple[str, ...]:
    """The fixed words of the reason line in `language`, one phrase per basis: its
    longest run of words between the filled-in values (topic, date, organisation), taken
    from the translation catalogue, so the rule-4 check reads a Dutch footer in Dutch.
    """
    phrases = _PHRASES.get(language)
    if phrases is None:
        mark = "\0"
        with force_locale(language):
            lines = [
                _reason_text(b, mark, mark, mark) for b in (Basis.CONSENT, Basis.EXISTING_CUSTOMER)
            ]
        phrases = tuple(max(line.split(mark), key=len).strip() for line in lines)
        _PHRASES[language] = phrases
    return phrases


# --- one campaign, prepared --------------------------------------------------------------


@dataclass(frozen=True)
class Composed:
    """One message as built: its header block, the text and HTML bodies it encodes, and
    the whole message as bytes (without the DKIM signature)."""

    head: str
    text: str
    page: str
    raw: bytes


@dataclass
class PreparedCampaign:
    """What is the same for every message of a campaign, ready for `build`."""

    campaign_id: int
    locale: str
    topic_name: str
    organization: str
    envelope_from: str
    head_before_to: str
    head_after_to: str
    html: _Slotted
    text: _Slotted
    boundary: str
    domain: str
    subject: str
    signer: object | None = None
    # Links are a fixed prefix and a signed token: the URL is built once, not per message.
    unsubscribe_prefix: str = ""
    preferences_prefix: str = ""
    mailto_prefix: str = ""
    reasons: dict = field(default_factory=dict)
    sign_unsubscribe: Callable[[str], str] = field(
        default_factory=lambda: tokens.link_signer(tokens.UNSUBSCRIBE)
    )
    sign_preferences: Callable[[str], str] = field(
        default_factory=lambda: tokens.link_signer(tokens.PREFERENCES)
    )
    date: tuple[int, str] = (0, "")  # the Date header of the current second
    # Set by the sender once one whole message of this campaign passed the rule-4 check.
    skeleton_checked: bool = False

    def fill(self, recipient: Recipient) -> tuple[str, str, dict[str, str]]:
        """(html, text, links) of one recipient's message."""
        unsubscribe = self.unsubscribe_prefix + self.sign_unsubscribe(recipient.public_id)
        preferences = self.preferences_prefix + self.sign_preferences(recipient.public_id)
        reason = self.reason(recipient)
        plain = {"unsubscribe_url": unsubscribe, "preferences_url": preferences, "reason": reason}
        escaped = {key: html.escape(value) for key, value in plain.items()}
        return self.html.fill(escaped), self.text.fill(plain), plain

    def reason(self, recipient: Recipient) -> str:
        """The reason line; it depends only on the basis and the day, so it is kept per
        (basis, day): a few hundred distinct lines for a list of any size."""
        day = clock.local(recipient.since).date() if recipient.since else None
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
        """One recipient's message, unsigned, with the texts it was made of (the sender
        runs the rule-4 check on those, then signs)."""
        page, text, values = self.fill(recipient)
        unsubscribe = values["unsubscribe_url"]
        token = unsubscribe.rsplit("/", 1)[1]  # URL-safe: the same quoted or not
        message_id = f"<{unique or secrets.token_hex(12)}.{secrets.token_hex(6)}@{self.domain}>"
        head = (
            f"{self.head_before_to}To: {_to_header(recipient)}{CRLF}"
            f"Date: {self.date_header()}{CRLF}"
            f"Message-ID: {message_id}{CRLF}"
            f"List-Help: <{values['preferences_url']}>{CRLF}"
            f"List-Unsubscribe: <{unsubscribe}>,{CRLF} "
            f"<{self.mailto_prefix}{token}>{CRLF}"
            f"{self.head_after_to}"
        )
        body = (
            f"--{self.boundary}{CRLF}"
            f'Content-Type: text/plain; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
            f"{_base64_lines(text)}"
            f"--{self.boundary}{CRLF}"
            f'Content-Type: text/html; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
            f"{_base64_lines(page)}"
            f"--{self.boundary}--{CRLF}"
        )
        return Composed(head, text, page, (head + CRLF + body).encode("ascii"))

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


def prepare(campaign: Campaign, subject_prefix: str = "", locale: str = "en") -> PreparedCampaign:
    """Prepare a campaign once for all its messages whose footer is in `locale`."""
    from .sending import signing

    config = current_app.config
    markers = _markers()
    with force_locale(locale):
        page, text = _render_layout(campaign, render_body(campaign.body_markdown), markers)
    from_header, envelope_from = _sender()
    boundary = f"=_nl_{secrets.token_hex(12)}"
    subject = f"{subject_prefix}{campaign.subject}"
    head_before_to = f"From: {from_header}{CRLF}Subject: {_encoded(subject, 'Subject')}{CRLF}"
    head_after_to = (
        f"List-Id: {list_id(campaign.topic, locale)}{CRLF}"
        f"List-Unsubscribe-Post: List-Unsubscribe=One-Click{CRLF}"
        f"Content-Language: {locale}{CRLF}"
        f"MIME-Version: 1.0{CRLF}"
        f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}'
    )
    return PreparedCampaign(
        campaign_id=campaign.id,
        locale=locale,
        topic_name=topic_translations.name(campaign.topic, locale),  # issue 15
        organization=config["ORGANIZATION_NAME"],
        envelope_from=envelope_from,
        head_before_to=head_before_to,
        head_after_to=head_after_to,
        html=_Slotted(page, markers),
        text=_Slotted(text, markers),
        boundary=boundary,
        domain=host_name(),
        subject=subject,
        signer=signing.signer_from_config(),
        unsubscribe_prefix=_link_prefix("public.unsubscribe"),
        preferences_prefix=_link_prefix("public.preferences"),
        mailto_prefix=unsubscribe_mailto(TOKEN_MARK).removesuffix(TOKEN_MARK),
    )


def _link_prefix(endpoint: str) -> str:
    """The absolute URL of `endpoint` up to its token (tokens are URL-safe as they are)."""
    url = links.public_url(endpoint, token=TOKEN_MARK)
    if not url.endswith(TOKEN_MARK):
        raise RuntimeError(f"the URL of {endpoint} does not end with its token")
    return url.removesuffix(TOKEN_MARK)
