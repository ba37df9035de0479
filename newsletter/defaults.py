"""What a new installation starts with. Used by the first migration and by the tests."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

DEFAULT_TOPIC_SLUG = "newsletter"
DEFAULT_TOPIC_NAME = "Newsletter"
DEFAULT_CONSENT_TEXT = (
    "Yes, I want to receive the newsletter by email on the lists I ticked. "
    "I can unsubscribe at any time with the link in every message; my consent is "
    "asked again every two years."
)


def default_rows(now: datetime) -> dict[str, list[dict]]:
    """The rows of a new installation, per table, as plain values (`now`: naive UTC)."""
    return {
        "topic": [
            {
                "slug": DEFAULT_TOPIC_SLUG,
                "name": DEFAULT_TOPIC_NAME,
                "description": "",
                "own_similar_products": False,
                "created_at": now,
            }
        ],
        "consent_text": [
            {
                "version": 1,
                "text": DEFAULT_CONSENT_TEXT,
                "sha256": hashlib.sha256(DEFAULT_CONSENT_TEXT.encode()).hexdigest(),
                "created_at": now,
            }
        ],
        "setting": [{"name": "suppression_key", "value": secrets.token_hex(32)}],
    }
