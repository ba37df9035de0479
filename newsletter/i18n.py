"""Languages: Dutch, French and English for subscriber pages, system mails and footers.

On the admin pages (/admin) the language is the signed-in admin's own choice
(`AdminUser.locale`, set with the switcher in the admin header), else `?lang=`, else the
browser's Accept-Language among nl/fr/en, else English (`admin_locale`).

Elsewhere the language is, in order: `?lang=` on the URL, the subscriber's own locale when the
page or mail is about a known subscriber (`use_locale`), the browser's Accept-Language,
then English. Translations live in newsletter/translations (Flask-Babel, gettext).
"""

from __future__ import annotations

import re

from flask import g, has_request_context, request

LANGUAGES = {"en": "English", "nl": "Nederlands", "fr": "Français"}
DEFAULT = "en"

# A language tag as people write it: "nl", "NL", "nl_BE", "nl-be", "fr-BE", "en_GB.UTF-8",
# "nl-Latn-BE": a 2-3 letter language, then optional subtags (BCP 47 / POSIX spellings).
_LOCALE = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*(?:\.[\w-]+)?(?:@\w+)?")


def normalize_locale(value: str | None) -> str | None:
    """The supported language (`nl`, `fr`, `en`) a locale written in any common spelling
    stands for (`nl_BE`, `nl-be`, `NL`, `fr-BE`, `en_GB` ...), or None when it names no
    supported language or is not a locale at all.

    Every place where a locale enters (signup, import, API) stores this, so the sender
    and the system mails only ever see a language they have a catalogue for (a stored
    `nl-BE` made Babel's `force_locale` raise and stalled a whole batch: issue 12).
    """
    found = _LOCALE.fullmatch((value or "").strip())
    if found is None:
        return None
    language = found.group(1).lower()
    return language if language in LANGUAGES else None


def language_of(value: str | None) -> str:
    """The language a person's pages, mails and footers are in, from a stored or given
    locale: `normalize_locale`, else the default language. The one decision of "which
    language" for a known person (sender, previews, system mails, the consent text).
    """
    return normalize_locale(value) or default_language()


def is_locale_code(value: str | None) -> bool:
    """Is `value` written like a locale at all (supported or not)?"""
    return _LOCALE.fullmatch((value or "").strip()) is not None


def select_locale() -> str:
    """Flask-Babel's locale selector."""
    if not has_request_context():
        return default_language()
    if request.blueprint == "admin":
        chosen = admin_locale()
        if chosen:
            return chosen
    return page_locale()  # within NEWSLETTER_LANGUAGES (below)


def admin_locale() -> str | None:
    """The language the signed-in admin chose for the admin pages, or None (no admin
    signed in, or no choice made: the browser decides)."""
    from flask_login import current_user

    if not current_user or not current_user.is_authenticated:
        return None
    return normalize_locale(getattr(current_user, "locale", None))


def use_locale(code: str | None) -> None:
    """Show the rest of this request in a known subscriber's language."""
    language = normalize_locale(code)
    if language:
        g.subscriber_locale = language
        from flask_babel import refresh

        refresh()


# --- the configured languages (issue 15) -------------------------------------------------


def offered() -> list[str]:
    """The languages offered to subscribers and admins (NEWSLETTER_LANGUAGES), in the
    configured order; every one has a catalogue (checked at start). Outside an app: all."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return list(LANGUAGES)
    return [code for code in current_app.config.get("LANGUAGES", LANGUAGES) if code in LANGUAGES]


def default_language() -> str:
    """The language used where a recipient's language has no version
    (NEWSLETTER_DEFAULT_LANGUAGE)."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return DEFAULT
    return current_app.config.get("DEFAULT_LANGUAGE") or DEFAULT


def language_choices() -> list[tuple[str, str]]:
    """(code, name in its own language) of every language offered: the language menus."""
    return [(code, LANGUAGES[code]) for code in offered()]


def page_locale() -> str:
    """The locale selector's answer within the offered languages: `?lang=`, a known
    subscriber's language, the browser's, then the default language."""
    asked = normalize_locale(request.args.get("lang"))
    if asked in offered():
        return asked
    known = g.get("subscriber_locale")
    if known:
        return known
    return request.accept_languages.best_match(offered()) or default_language()
