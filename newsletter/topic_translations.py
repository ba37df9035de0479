"""Topic names and descriptions per language (issue 15).

A topic's own `name` and `description` are its base text. A `TopicTranslation` gives
them in one language; a page or mail in a language without one shows the default
language's translation, else the base text. The slug never changes (List-Id).
Every page, footer and consent snapshot asks here for the wording in its language.
"""

from __future__ import annotations

from sqlalchemy import select

from . import audit, i18n
from .extensions import db
from .models import Topic, TopicTranslation
from .topics import TopicError, clean_topic_name


def _rows(topic: Topic) -> dict[str, TopicTranslation]:
    return {
        row.locale: row
        for row in db.session.scalars(
            select(TopicTranslation).where(TopicTranslation.topic_id == topic.id)
        )
    }


def _lookup(topic: Topic, language: str | None) -> tuple[str, str]:
    rows = _rows(topic) if topic.id is not None else {}
    for code in (i18n.normalize_locale(language), i18n.default_language()):
        row = rows.get(code)
        if row is not None:
            return row.name, row.description or ""
    return topic.name, topic.description or ""


def name(topic: Topic, language: str | None) -> str:
    """The topic's name in `language` (fallback: default language's, then the base)."""
    return _lookup(topic, language)[0]


def description(topic: Topic, language: str | None) -> str:
    """The topic's description in `language`, with the same fallback as `name`."""
    return _lookup(topic, language)[1]


def choices(topics: list[Topic], language: str | None) -> list[tuple[str, str]]:
    """(slug, name in `language`) for a form's checkboxes."""
    return [(t.slug, name(t, language)) for t in topics]


def descriptions(topics: list[Topic], language: str | None) -> dict[str, str]:
    """{slug: description in `language`} of the topics that have one."""
    found = {t.slug: description(t, language) for t in topics}
    return {slug: text for slug, text in found.items() if text}


def wording(topics: list[Topic], language: str | None) -> list[dict]:
    """The lists' name and description as a page in `language` showed them: kept with a
    consent event (what the person agreed to, in their words)."""
    snapshot = []
    for topic in topics:
        shown_name, shown_description = _lookup(topic, language)
        snapshot.append({"slug": topic.slug, "name": shown_name, "description": shown_description})
    return snapshot


def translations(topic: Topic) -> dict[str, TopicTranslation]:
    """{locale: translation} of one topic (the admin edit page)."""
    return _rows(topic)


def set_translation(
    topic: Topic, locale: str, new_name: str, new_description: str = "", actor="system"
) -> bool:
    """Add or replace the topic's name and description in one language (flushed, and
    audit-logged when anything changed). An empty name removes that language's version
    (the page then shows the fallback). Returns True when something changed.

    Raises TopicError for a language not offered or a bad name."""
    language = i18n.normalize_locale(locale)
    if language is None or language not in i18n.offered():
        offered = ", ".join(i18n.offered())
        raise TopicError(f"{locale!r} is not a language offered (offered: {offered}).")
    row = _rows(topic).get(language)
    text = (new_description or "").strip()
    if not (new_name or "").strip():
        if row is None:
            return False
        db.session.delete(row)
        db.session.flush()
        audit.record(actor, audit.TOPIC_EDIT, topic.slug, translation_removed=language)
        return True
    clean = clean_topic_name(new_name)
    if row is not None and (row.name, row.description or "") == (clean, text):
        return False
    if row is None:
        row = TopicTranslation(topic_id=topic.id, locale=language, name=clean, description=text)
        db.session.add(row)
    else:
        row.name, row.description = clean, text
    db.session.flush()
    audit.record(actor, audit.TOPIC_EDIT, topic.slug, translation=language, name=clean)
    return True
