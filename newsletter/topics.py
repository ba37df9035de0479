"""Topics (lists): create and edit. The slug is fixed once created: it is part of every
List-Id header already sent, and mail clients group messages by it (checklist A8)."""

from __future__ import annotations

import re

from sqlalchemy import select

from .extensions import db
from .models import Topic

SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class TopicError(ValueError):
    """The topic cannot be saved as asked; the message says why."""


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise TopicError("A topic needs a name.")
    if len(name) > 200 or any(ord(ch) < 32 for ch in name):
        raise TopicError("The name must be one line of at most 200 characters.")
    return name


def create_topic(slug: str, name: str, own_similar_products: bool = False, description="") -> Topic:
    """Add a topic (flushed). Raises TopicError for a bad or taken slug or an empty name."""
    slug = (slug or "").strip()
    if not SLUG_PATTERN.fullmatch(slug):
        raise TopicError("The slug takes lower-case letters, digits and dashes (max. 64).")
    if db.session.scalar(select(Topic).where(Topic.slug == slug)):
        raise TopicError(f"A topic with the slug {slug!r} exists already.")
    topic = Topic(
        slug=slug,
        name=_clean_name(name),
        own_similar_products=bool(own_similar_products),
        description=(description or "").strip(),
    )
    db.session.add(topic)
    db.session.flush()
    return topic


def update_topic(topic: Topic, name: str, own_similar_products: bool, description="") -> dict:
    """Change a topic's name, description and own-similar-products flag (flushed).

    Returns the changed fields as {field: [old, new]} for the audit log.
    """
    new = {
        "name": _clean_name(name),
        "own_similar_products": bool(own_similar_products),
        "description": (description or "").strip(),
    }
    changes = {}
    for field, value in new.items():
        if getattr(topic, field) != value:
            changes[field] = [getattr(topic, field), value]
            setattr(topic, field, value)
    db.session.flush()
    return changes
