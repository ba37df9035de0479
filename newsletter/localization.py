"""Template helpers for languages and local time (issue 15), registered on the app.

Every date a template shows goes through `clock.format_local` (the configured zone, the
page's or mail's language): `|local_date`, `|local_datetime`, `|admin_time`. Topic
wording in the page's language: `topic_name(topic)`, `topic_description(topic)`.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import get_locale

from . import clock, i18n, topic_translations


def _language(language: str | None) -> str:
    return language or str(get_locale() or i18n.default_language())


def local_date(value, language: str | None = None) -> str:
    """A long date in the page's (or mail's) language and the configured zone."""
    return clock.format_local(value, _language(language), "date")


def local_datetime(value, language: str | None = None) -> str:
    """A long date and hour in the page's language and the configured zone."""
    return clock.format_local(value, _language(language), "datetime")


def admin_time(value) -> str:
    """A time on the admin pages: 2027-03-28 09:00 CEST (the configured zone)."""
    return clock.format_local(value, kind="admin")


def _topic_descriptions(language: str | None = None) -> dict[str, str]:
    """{slug: description in the page's language} of the topics offered on the forms."""
    from .subscriptions import public_topics

    return topic_translations.descriptions(public_topics(), _language(language))


def init_app(app: Flask) -> None:
    """Register the filters and globals."""
    app.jinja_env.filters.update(
        local_date=local_date, local_datetime=local_datetime, admin_time=admin_time
    )
    app.jinja_env.globals.update(
        topic_name=lambda topic, language=None: topic_translations.name(topic, _language(language)),
        topic_description=lambda topic, language=None: topic_translations.description(
            topic, _language(language)
        ),
        topic_descriptions=_topic_descriptions,
        offered_languages=i18n.language_choices,
        local_zone=lambda: clock.zone().key,
    )
