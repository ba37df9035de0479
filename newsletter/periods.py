"""Periods in words, in the reader's language: "5 years", "2 jaar", "5 ans", "30 days".

One function for every period shown to a person (the privacy notice, the record of
processing): a configured number of days becomes years and months when it is one (1826
days → 5 years, 548 → 1 year and 6 months, 90 → 3 months), stays in days under a month
(30 days) and otherwise (1000 days, with "about 2 years and 9 months" beside it, so that
the exact period is never hidden behind a rounded one). Hours stay hours (48 hours)
unless they are a whole number of days of at least three.

The words come from the CLDR data that ships with Babel (`babel.units`, `babel.lists`):
plural forms and the list conjunction ("en", "et", "and") are right in every language
without a catalogue entry; only the "about …" phrase is in the catalogues.
"""

from __future__ import annotations

from babel.lists import format_list
from babel.units import format_unit
from flask_babel import force_locale, gettext

DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
# A configured period counts as whole years or months when it is this close to them
# (730 days is "2 years", 1826 "5 years", 90 "3 months"): never more than a day and a half.
TOLERANCE_DAYS = 1.5


def whole_months(days: int) -> int | None:
    """The number of months `days` is (within TOLERANCE_DAYS), or None."""
    if days < 31:
        return None
    months = round(days / DAYS_PER_MONTH)
    return months if abs(days - months * DAYS_PER_MONTH) <= TOLERANCE_DAYS else None


def _years_and_months(months: int, locale: str) -> str:
    years, rest = divmod(months, 12)
    parts = []
    if years:
        parts.append(format_unit(years, "duration-year", length="long", locale=locale))
    if rest:
        parts.append(format_unit(rest, "duration-month", length="long", locale=locale))
    return format_list(parts, locale=locale)


def days_in_words(days: int, locale: str) -> str:
    """A number of days in words, in `locale` ("nl", "fr", "en")."""
    days = int(days)
    months = whole_months(days)
    if months:
        return _years_and_months(months, locale)
    exact = format_unit(days, "duration-day", length="long", locale=locale)
    if days < DAYS_PER_YEAR:
        return exact
    rounded = _years_and_months(round(days / DAYS_PER_MONTH), locale)
    with force_locale(locale):
        return gettext("%(exact)s (about %(rounded)s)", exact=exact, rounded=rounded)


def hours_in_words(hours: int, locale: str) -> str:
    """A number of hours in words: hours, or days when a whole number of at least three."""
    hours = int(hours)
    if hours >= 72 and hours % 24 == 0:
        return days_in_words(hours // 24, locale)
    return format_unit(hours, "duration-hour", length="long", locale=locale)


def config_period(config, key: str, locale: str) -> str:
    """The period of configuration key `key` (`…_DAYS` or `…_HOURS`) in words."""
    value = config[key]
    if key.endswith("_HOURS"):
        return hours_in_words(value, locale)
    return days_in_words(value, locale)
