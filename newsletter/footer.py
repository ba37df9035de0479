"""The system footer of every marketing message, and its reason line ("why you get
this"), in the recipient's language; and the patterns the rule-4 check requires verbatim.
"""

from __future__ import annotations

import html
import re

from babel.dates import format_date
from flask import current_app
from flask_babel import force_locale, get_locale, gettext

from . import clock, compliance, links
from .models import Basis

# The per-recipient values a prepared campaign fills in.
SLOTS = ("unsubscribe_url", "preferences_url", "reason")

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


def place_footer(page: str, footer: str) -> str:
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
    key += (config.get("PRIVACY_POLICY_URL"), config["BASE_URL"])  # links.privacy_url's
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


def reason_line(recipient, topic_name: str, organization: str) -> str:
    """Why this person gets this message: the real basis and its date (SPEC footer).

    In the recipient's language; call it inside `force_locale(recipient.locale)`.
    """
    if recipient.since:
        day = format_date(clock.local(recipient.since), format="long", locale=recipient.locale)
    else:
        day = gettext("an unknown date")
    return compliance.reason_for_receiving(recipient.basis, organization, day, topic_name)


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
                compliance.reason_for_receiving(b, mark, mark, mark)
                for b in (Basis.CONSENT, Basis.EXISTING_CUSTOMER)
            ]
        phrases = tuple(max(line.split(mark), key=len).strip() for line in lines)
        _PHRASES[language] = phrases
    return phrases
