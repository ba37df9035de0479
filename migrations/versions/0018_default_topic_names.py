"""The default topic's name in Dutch and French ("Nieuwsbrief", "Lettre d'information").

A new installation's `newsletter` topic had only its English name, so a Dutch or French
subscriber read "Newsletter" on the form and in every footer's reason line. Added only
where the operator has not touched it: the topic still called "Newsletter" and without a
translation in that language.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 20:00:00

"""

import sqlalchemy as sa
from alembic import op

from newsletter.defaults import DEFAULT_TOPIC_NAME, DEFAULT_TOPIC_NAMES, DEFAULT_TOPIC_SLUG

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_ADD = sa.text(
    "INSERT INTO topic_translation (topic_id, locale, name, description) "
    "SELECT t.id, :locale, :name, '' FROM topic t "
    "WHERE t.slug = :slug AND t.name = :english AND NOT EXISTS ("
    "SELECT 1 FROM topic_translation x WHERE x.topic_id = t.id AND x.locale = :locale)"
)


def upgrade():
    for locale, name in DEFAULT_TOPIC_NAMES.items():
        op.execute(
            _ADD.bindparams(
                locale=locale, name=name, slug=DEFAULT_TOPIC_SLUG, english=DEFAULT_TOPIC_NAME
            )
        )


def downgrade():
    for locale, name in DEFAULT_TOPIC_NAMES.items():
        op.execute(
            sa.text(
                "DELETE FROM topic_translation WHERE locale = :locale AND name = :name "
                "AND topic_id IN (SELECT id FROM topic WHERE slug = :slug)"
            ).bindparams(locale=locale, name=name, slug=DEFAULT_TOPIC_SLUG)
        )
