"""What a new installation starts with. Used by the migrations and by the tests."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

DEFAULT_TOPIC_SLUG = "newsletter"
DEFAULT_TOPIC_NAME = "Newsletter"
# Its name in the other languages offered: the signup form, the preferences page and the
# footer's reason line ("you subscribed to ...") speak the subscriber's language.
DEFAULT_TOPIC_NAMES = {"nl": "Nieuwsbrief", "fr": "Lettre d'information"}
DEFAULT_CONSENT_TEXT = (
    "Yes, I want to receive the newsletter by email on the lists I ticked. "
    "I can unsubscribe at any time with the link in every message; my consent is "
    "asked again every two years."
)
# The same wording in each language offered (issue 13): a Dutch or French speaker's
# consent record holds the sentence they read, not an English one.
DEFAULT_CONSENT_TEXTS = {
    "en": DEFAULT_CONSENT_TEXT,
    "nl": (
        "Ja, ik wil de nieuwsbrief per e-mail ontvangen voor de lijsten die ik heb "
        "aangevinkt. Ik kan me op elk moment afmelden met de link in elk bericht; mijn "
        "toestemming wordt om de twee jaar opnieuw gevraagd."
    ),
    "fr": (
        "Oui, je souhaite recevoir la lettre d'information par e-mail pour les listes que "
        "j'ai cochées. Je peux me désinscrire à tout moment grâce au lien présent dans "
        "chaque message ; mon consentement me sera redemandé tous les deux ans."
    ),
}


def consent_text_row(locale: str, text: str, now: datetime, version: int = 1) -> dict:
    """One `consent_text` row as plain values."""
    return {
        "locale": locale,
        "version": version,
        "text": text,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "created_at": now,
    }


def default_rows(now: datetime) -> dict[str, list[dict]]:
    """The rows of a new installation, per table, as plain values (`now`: naive UTC), for
    the schema the models describe now (tests and benchmarks create it directly)."""
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
            consent_text_row(locale, text, now) for locale, text in DEFAULT_CONSENT_TEXTS.items()
        ],
        "setting": [{"name": "suppression_key", "value": secrets.token_hex(32)}],
        # topic_id 1: the topic above, the first row of a new table on both databases.
        "topic_translation": [
            {"topic_id": 1, "locale": locale, "name": name, "description": ""}
            for locale, name in DEFAULT_TOPIC_NAMES.items()
        ],
    }


def initial_rows(now: datetime) -> dict[str, list[dict]]:
    """The rows migration 0001 inserts, in its schema (one consent text, no language
    column); migration 0008 gives that text its language and adds the nl and fr ones,
    migration 0018 the topic's nl and fr names."""
    rows = default_rows(now)
    del rows["topic_translation"]  # (the table comes with migration 0012)
    english = consent_text_row("en", DEFAULT_CONSENT_TEXT, now)
    del english["locale"]
    return {**rows, "consent_text": [english]}
