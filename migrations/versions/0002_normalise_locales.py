"""Normalise the subscribers' stored locales to a supported language (nl, fr, en).

Imports stored the locale as written (`nl_BE` became `nl-BE`), and Babel's
`force_locale("nl-BE")` raises: such a subscriber's message could not be built and, before
issue 12, took its whole sending batch down with it. Every place where a locale enters now
stores `i18n.normalize_locale(...)`; this migration does the same for the rows already
stored. A value that names no supported language (`de`, or not a locale at all) becomes
the default language, `en`, which is what the sender used for it anyway.

The mapping is written out here, not imported from the application: a migration must do
tomorrow what it does today.

Downgrade changes nothing: the original spellings are not kept, and the normalised values
are valid for the previous schema as they are.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00

"""

import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SUPPORTED = ("nl", "fr", "en")
DEFAULT = "en"
_LOCALE = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*(?:\.[\w-]+)?(?:@\w+)?")


def normalised(value):
    """The supported language of a stored locale; the default when it names none."""
    found = _LOCALE.fullmatch((value or "").strip())
    language = found.group(1).lower() if found else None
    return language if language in SUPPORTED else DEFAULT


def upgrade():
    subscriber = sa.table("subscriber", sa.column("locale", sa.String))
    connection = op.get_bind()
    stored = connection.execute(sa.select(subscriber.c.locale).distinct()).scalars().all()
    for value in stored:
        language = normalised(value)
        if value == language:
            continue
        where = subscriber.c.locale.is_(None) if value is None else subscriber.c.locale == value
        connection.execute(subscriber.update().where(where).values(locale=language))


def downgrade():
    pass
