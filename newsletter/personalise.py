"""The personal greeting: `{{ name }}` and `{{ name|fallback }}` in a campaign's text.

This is a literal substitution with one strict pattern, not a template language: the
author's text is never evaluated (`{{ 7*7 }}`, `{{ config }}`, `{% if %}` and every other
brace stay as they are written). `{{ name }}` becomes the recipient's name, `{{ name|friend }}`
the name or, when there is none, the word after the bar (any word: `{{ name|Klant }}`);
`{{ name }}` without a fallback and without a name becomes nothing.

The name is free text a person typed into a public form, so it is made harmless for the
place it goes: whitespace runs (CR and LF included) become one space everywhere; in HTML it
is escaped; in the subject the header code (`messages.encoded_header`) encodes it (RFC 2047) and
nothing in it can start another header. The sender prepares a message skeleton once per
language: the placeholders become slots of it (`mark`) and each message fills them by a
join (`values`), like its links; the subject is personalised per message only when it
holds a placeholder. A campaign without one costs nothing (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import html
import re
import secrets

# `{{ name }}` or `{{ name|word }}`, spaces optional; the fallback is at most 60 characters
# on one line, without braces or a bar. Anything else between braces is not a placeholder.
PLACEHOLDER = re.compile(r"\{\{\s*name\s*(?:\|\s*([^{}|\r\n]{0,60}?)\s*)?\}\}")


def has_placeholder(*texts: str | None) -> bool:
    """Does any of `texts` hold `{{ name }}` or `{{ name|fallback }}`?"""
    return any(text and PLACEHOLDER.search(text) for text in texts)


def clean_name(name: str | None) -> str:
    """The name as it may stand in any part of a message: every whitespace run (CR, LF,
    tabs included) one space, trimmed."""
    return " ".join((name or "").split())


def apply(text: str, name: str | None) -> str:
    """`text` (plain text or a subject) with each placeholder replaced by the name, or by
    its fallback when the name is empty."""
    if "{{" not in text:
        return text
    value = clean_name(name)
    return PLACEHOLDER.sub(lambda found: value or (found[1] or ""), text)


def apply_html(page: str, name: str | None) -> str:
    """`page` (HTML) with each placeholder replaced by the HTML-escaped name, or by its
    fallback (already HTML text: it was written in the page)."""
    if "{{" not in page:
        return page
    value = html.escape(clean_name(name), quote=True)
    return PLACEHOLDER.sub(lambda found: value or (found[1] or ""), page)


# --- prepared once, filled per message (the sender) ------------------------------------


def mark(text: str) -> tuple[str, dict[tuple[str, str], str]]:
    """`text` with each placeholder replaced by a random marker, and {(slot, fallback):
    marker}: the sender's skeleton (`slots.Slotted`) then fills the name in by a join,
    as it fills the links, instead of searching the whole page for every message."""
    markers: dict[tuple[str, str], str] = {}
    nonce = secrets.token_hex(8)

    def marker(found: re.Match) -> str:
        key = ("name", found[1] or "")
        if key not in markers:
            markers[key] = f"NLNAME{nonce}{len(markers)}X"
        return markers[key]

    return PLACEHOLDER.sub(marker, text), markers


def values(markers: dict[tuple[str, str], str], name: str | None, html_escaped: bool) -> dict:
    """The value of each marked placeholder for one recipient (`mark`): the name
    (HTML-escaped for the HTML part), else the placeholder's fallback."""
    value = clean_name(name)
    if html_escaped:
        value = html.escape(value, quote=True)
    return {key: value or key[1] for key in markers}
