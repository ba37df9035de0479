"""Topics (lists) and their current consent text per language."""

from __future__ import annotations

from flask import jsonify

from ... import api_tokens, i18n, subscriptions
from ...extensions import db
from ...models import Topic
from ..bearer import require_scope
from .blueprint import bp
from .helpers import BodyError, error, query_args

# --- topics -------------------------------------------------------------------------------


def _topic_json(topic: Topic) -> dict:
    return {
        "slug": topic.slug,
        "name": topic.name,
        "description": topic.description or "",
        "own_similar_products": bool(topic.own_similar_products),
    }


@bp.get("/topics")
@require_scope(api_tokens.READ_TOPICS)
def list_topics():
    """The topics (lists) and the current consent text per language (for a signup)."""
    try:
        query_args(())
    except BodyError as exc:
        return error(400, str(exc))
    texts = {}
    for language in i18n.LANGUAGES:
        text = subscriptions.displayed_consent_text(language)
        if text is not None:
            texts[language] = {"id": text.id, "locale": text.locale, "version": text.version}
    db.session.commit()
    return jsonify(
        topics=[_topic_json(t) for t in subscriptions.public_topics()], consent_texts=texts
    ), 200
