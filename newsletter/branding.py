"""Branding: the logo, brand colour, link colour and header text of mail and pages.

Kept in `setting` rows named `branding.*` (no personal data), set on the admin's
Branding page. Used by templates/email/layout.html and layout.txt (through
messages.py's render context) and by templates/base.html (the logo, and the colours in
the generated stylesheet /branding.css). The system footer of every message is outside
it: the footer is placed after the layout, with its own fixed styles (messages.py), so
no branding choice can hide or restyle it.

Colours must keep a contrast of at least 4.5:1 against white (WCAG 2.1 SC 1.4.3, level
AA): the brand colour is the background of white header text and buttons, the link
colour is text on white. Such colours also stay readable when a mail program's dark mode
inverts or darkens the message (docs/MEDIA.md).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

from sqlalchemy import select

from . import audit
from .extensions import db
from .models import Media, Setting

EDIT = "branding.edit"
PREFIX = "branding."
FIELDS = ("logo", "brand_color", "link_color", "header_text")
DEFAULT_BRAND_COLOR = "#1d4f91"
DEFAULT_LINK_COLOR = "#1f5fbf"
MIN_CONTRAST = 4.5
MAX_HEADER_TEXT = 120
LOGO_MAX_DISPLAY_WIDTH = 200  # px in mail and on pages; the stored image may be larger
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


class BrandingError(ValueError):
    """A branding value that cannot be used; the text says why and what to choose."""


@dataclass(frozen=True)
class Logo:
    name: str
    alt: str
    url: str
    width: int  # as shown (at most LOGO_MAX_DISPLAY_WIDTH), for Outlook's width attribute
    height: int


@dataclass(frozen=True)
class Branding:
    brand_color: str = DEFAULT_BRAND_COLOR
    link_color: str = DEFAULT_LINK_COLOR
    header_text: str = ""
    logo: Logo | None = None

    @property
    def version(self) -> str:
        """Changes whenever a value does (the stylesheet's cache-busting parameter)."""
        return hashlib.sha256(repr(asdict(self)).encode()).hexdigest()[:12]


# --- colours -----------------------------------------------------------------------------


def normalise_color(value: str | None) -> str:
    """`#rrggbb`, lower case, from `#rgb`, `rrggbb` or `#RRGGBB`; BrandingError otherwise."""
    found = _HEX.match((value or "").strip())
    if not found:
        raise BrandingError(
            f"{(value or '').strip()[:20] or 'an empty value'} is not a colour: write it as "
            "#rrggbb, for example #1d4f91."
        )
    digits = found.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


def _luminance(color: str) -> float:
    """WCAG 2.1 relative luminance of `#rrggbb`."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str = "#ffffff") -> float:
    """WCAG 2.1 contrast ratio of two `#rrggbb` colours (1 to 21)."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable_color(value: str | None, what: str) -> str:
    """A colour with a contrast of at least 4.5:1 against white, normalised.
    Source: WCAG 2.1 SC 1.4.3 (contrast, level AA), EN 301 549 9.1.4.3."""
    color = normalise_color(value)
    ratio = contrast_ratio(color)
    if ratio < MIN_CONTRAST:
        raise BrandingError(
            f"The {what} {color} has a contrast of {ratio:.1f}:1 against white; at least "
            f"{MIN_CONTRAST}:1 is needed to be readable (WCAG 2.1 AA), also in dark mode. "
            "Choose a darker shade."
        )
    return color


# --- stored values -----------------------------------------------------------------------


def _stored() -> dict[str, str]:
    rows = db.session.scalars(select(Setting).where(Setting.name.startswith(PREFIX)))
    return {row.name.removeprefix(PREFIX): row.value for row in rows}


def _logo(name: str | None) -> Logo | None:
    from . import media

    row = media.by_name(name) if name else None
    if row is None:
        return None
    width = min(row.width, LOGO_MAX_DISPLAY_WIDTH)
    height = max(1, round(row.height * width / row.width))
    return Logo(row.name, row.alt, media.url(row.name), width, height)


def current() -> Branding:
    """The branding in use (defaults for what was never set)."""
    values = _stored()
    return Branding(
        brand_color=values.get("brand_color") or DEFAULT_BRAND_COLOR,
        link_color=values.get("link_color") or DEFAULT_LINK_COLOR,
        header_text=values.get("header_text") or "",
        logo=_logo(values.get("logo")),
    )


def clean_header_text(value: str | None) -> str:
    text = " ".join((value or "").split())
    if len(text) > MAX_HEADER_TEXT:
        raise BrandingError(f"The header text is longer than {MAX_HEADER_TEXT} characters.")
    return text


def save(
    *, logo: str | None, brand_color: str, link_color: str, header_text: str, actor
) -> list[str]:
    """Check and store every value (flushed); returns the names of those that changed.
    Nothing is stored when one value is refused (BrandingError)."""
    if logo and db.session.scalar(select(Media.id).where(Media.name == logo)) is None:
        raise BrandingError("The chosen logo is no longer in the media library: choose another.")
    wanted = {
        "logo": logo or "",
        "brand_color": readable_color(brand_color, "brand colour"),
        "link_color": readable_color(link_color, "link colour"),
        "header_text": clean_header_text(header_text),
    }
    stored = _stored()
    changed = [name for name in FIELDS if stored.get(name, "") != wanted[name]]
    for name in changed:
        _put(name, wanted[name])
    db.session.flush()
    if changed:
        audit.record(actor, EDIT, "branding", changed=changed)
    return changed


def _put(name: str, value: str) -> None:
    row = db.session.get(Setting, PREFIX + name)
    if row is None:
        db.session.add(Setting(name=PREFIX + name, value=value))
    else:
        row.value = value


def forget_logo(name: str) -> None:
    """The logo setting no longer names an image that is being deleted (flushed)."""
    row = db.session.get(Setting, PREFIX + "logo")
    if row is not None and row.value == name:
        row.value = ""
        db.session.flush()


def stylesheet(branding: Branding) -> str:
    """The public pages' colours (served as /branding.css: the pages allow no inline
    styles, Content-Security-Policy)."""
    return (
        f":root {{ --accent:{branding.link_color}; --brand:{branding.brand_color}; }}\n"
        ".site-header { border-top:4px solid var(--brand); }\n"
        "button, .button { background:var(--brand); }\n"
        "button.secondary, .button.secondary { background:#fff; color:var(--accent); "
        "border-color:var(--accent); }\n"
        "button.link { background:none; }\n"
        ".brand-logo { display:block; max-width:200px; height:auto; }\n"
    )
