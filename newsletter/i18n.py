"""Languages: Dutch, French and English for subscriber pages, system mails and footers.

The language is, in order: `?lang=` on the URL, the subscriber's own locale when the
page or mail is about a known subscriber (`use_locale`), the browser's Accept-Language,
then English. Translations live in newsletter/translations (Flask-Babel, gettext).
"""

from __future__ import annotations

from flask import g, has_request_context, request

LANGUAGES = {"en": "English", "nl": "Nederlands", "fr": "Français"}
DEFAULT = "en"


def supported(code: str | None) -> str | None:
    """The supported language for a locale code ("nl_BE" -> "nl"), or None."""
    if not code:
        return None
    short = code.replace("-", "_").split("_")[0].lower()
    return short if short in LANGUAGES else None


def select_locale() -> str:
    """Flask-Babel's locale selector."""
    if not has_request_context():
        return DEFAULT
    asked = supported(request.args.get("lang"))
    if asked:
        return asked
    known = g.get("subscriber_locale")
    if known:
        return known
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT


def use_locale(code: str | None) -> None:
    """Show the rest of this request in a known subscriber's language."""
    language = supported(code)
    if language:
        g.subscriber_locale = language
        from flask_babel import refresh

        refresh()
