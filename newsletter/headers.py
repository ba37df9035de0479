"""Header values of a message: RFC 2047 encoded-words, display names, List-Id, the
mailto alternative of List-Unsubscribe, the sender, the Date."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, parseaddr
from urllib.parse import quote, urlsplit

from flask import current_app

from . import topic_translations
from .models import Topic

CRLF = "\r\n"


def clean_header_text(value: str | None) -> str:
    """Collapse every run of whitespace, CR and LF included, to one space."""
    return " ".join((value or "").split())


def encoded_header(value: str, name: str) -> str:
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
    return f"{encoded_header(label, 'List-Id')} <{topic.slug}.{host_name()}>"


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


def sender_header() -> tuple[str, str]:
    """(From header value, envelope sender) from MAIL_DEFAULT_SENDER."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    name, address = sender if isinstance(sender, list | tuple) else parseaddr(sender)
    return mailbox_header(name, address, "From"), address


NOT_IN_HEADER = re.compile(r'[\s<>,;"]')  # beside non-ASCII: would need quoting or SMTPUTF8
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


def base64_lines(data: str | bytes) -> str:
    """A body part in base64: lines of 76 characters (57 octets, RFC 2045 6.8), CRLF."""
    octets = data.encode("utf-8") if isinstance(data, str) else data
    return base64.encodebytes(octets).decode("ascii").replace("\n", CRLF)


def date_header_value(moment: datetime) -> str:
    """A Date header value in UTC with the numeric zone `+0000` (RFC 5322 3.3)."""
    return format_datetime(moment.astimezone(UTC))


def head_after_to(topic: Topic, locale: str, boundary: str) -> str:
    """The headers after To that every message of a prepared campaign shares.
    Content-Language is the footer's (the recipient's) language: the rule-4 check reads
    the footer in it."""
    return (
        f"List-Id: {list_id(topic, locale)}{CRLF}"
        f"List-Unsubscribe-Post: List-Unsubscribe=One-Click{CRLF}"
        f"Content-Language: {locale}{CRLF}"
        f"MIME-Version: 1.0{CRLF}"
        f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}'
    )
