"""Topics (lists): create and edit. The slug is fixed once created: it is part of every
List-Id header already sent, and mail clients group messages by it (checklist A8).

Marking a topic "own similar products" lets it go to existing customers without their
consent (the soft opt-in, ePrivacy Art. 13(2)); that is a deliberate choice with the
product range written down, and every change to such a topic (mark, name, range) is in
the audit log with who made it and when (issue 13).
"""

from __future__ import annotations

import re

from sqlalchemy import select

from . import audit
from .extensions import db
from .models import Topic

SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
MIN_RANGE = 10
MAX_RANGE = 2000


class TopicError(ValueError):
    """The topic cannot be saved as asked; the message says why."""


def clean_topic_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise TopicError("A topic needs a name.")
    if len(name) > 200 or any(ord(ch) < 32 for ch in name):
        raise TopicError("The name must be one line of at most 200 characters.")
    if audit.ADDRESS_PATTERN.search(name):
        raise TopicError("The name must not hold an email address.")
    return name


def clean_product_range(own_similar_products: bool, product_range: str | None) -> str:
    """The product range of a topic: required (in words) when it is own-similar-products.

    Source: ePrivacy Directive Art. 13(2) ("its own similar products or services"); Dutch
    Tw 11.7(3); Belgian KB 4-4-2003 art. 1; seed "direct-marketing-existing-customers"
    ("U mag dus geen reclame (mee)sturen van een ander bedrijf. Of voor producten of
    diensten die heel anders zijn dan wat uw klant eerder bij u heeft gekocht").
    """
    text = " ".join((product_range or "").split())
    if own_similar_products and len(text) < MIN_RANGE:
        raise TopicError(
            "A topic about your own similar products needs its product range written down "
            f"(at least {MIN_RANGE} characters), e.g. \u201cgarden tools, plants and seeds "
            "sold in our shop\u201d: only products like those your customers bought may be "
            "mailed to them without their consent (ePrivacy Art. 13(2))."
        )
    if len(text) > MAX_RANGE:
        raise TopicError(f"The product range may be at most {MAX_RANGE} characters.")
    if audit.ADDRESS_PATTERN.search(text):
        raise TopicError("The product range describes products; it must not hold an email address.")
    return text


def create_topic(
    slug: str,
    name: str,
    own_similar_products: bool = False,
    description="",
    product_range: str = "",
    actor="system",
) -> Topic:
    """Add a topic (flushed) and its audit entry (who, when, the mark and the range).

    Raises TopicError for a bad or taken slug, an empty name, or an own-similar-products
    topic without its product range.
    """
    slug = (slug or "").strip()
    if not SLUG_PATTERN.fullmatch(slug):
        raise TopicError("The slug takes lower-case letters, digits and dashes (max. 64).")
    if db.session.scalar(select(Topic).where(Topic.slug == slug)):
        raise TopicError(f"A topic with the slug {slug!r} exists already.")
    topic = Topic(
        slug=slug,
        name=clean_topic_name(name),
        own_similar_products=bool(own_similar_products),
        description=(description or "").strip(),
        product_range=clean_product_range(bool(own_similar_products), product_range),
    )
    db.session.add(topic)
    db.session.flush()
    audit.record(
        actor,
        audit.TOPIC_CREATE,
        topic.slug,
        name=topic.name,
        own_similar_products=topic.own_similar_products,
        product_range=topic.product_range,
    )
    return topic


def update_topic(
    topic: Topic,
    name: str,
    own_similar_products: bool,
    description="",
    product_range: str | None = None,
    actor="system",
) -> dict:
    """Change a topic's name, description, own-similar-products flag and product range
    (flushed), with an audit entry of the changes (who, when, old and new) when any.

    `product_range` None keeps the stored one. Returns the changed fields as
    {field: [old, new]}.
    """
    own = bool(own_similar_products)
    new = {
        "name": clean_topic_name(name),
        "own_similar_products": own,
        "description": (description or "").strip(),
        "product_range": clean_product_range(
            own, topic.product_range if product_range is None else product_range
        ),
    }
    changes = {}
    for field, value in new.items():
        if getattr(topic, field) != value:
            changes[field] = [getattr(topic, field), value]
            setattr(topic, field, value)
    db.session.flush()
    if changes:
        detail = {"changes": changes}
        if topic.own_similar_products or "own_similar_products" in changes:
            detail["own_similar_products"] = topic.own_similar_products
        audit.record(actor, audit.TOPIC_EDIT, topic.slug, **detail)
    return changes
