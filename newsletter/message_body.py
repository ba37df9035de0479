"""The author's text: Markdown to sanitised HTML (no script, no tracking image), and
the plain-text alternative made from that HTML.

The author's text is never evaluated as a template: it is Markdown turned into HTML,
sanitised with nh3, and inserted into the layout as data (newsletter/messages.py).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import markdown
import nh3

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
