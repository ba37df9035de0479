"""Consent texts per language; the lists' wording kept with each consent event.

`consent_text.locale`: every text so far was shown on every page, in English by default,
so the existing texts become the default language's (`en`), keeping their versions;
versions now count per language (unique per locale, as is the wording). When the current
English text is still the installation's default wording, its Dutch and French versions
are added (they say the same thing); an operator who changed the English wording gets no
invented translation: nl and fr pages show the English text, marked as such, until the
admin writes one (the consent-texts page lists the languages without a text).

`consent_event.topic_wording`: the name and description of each list as shown when the
consent was given. Events recorded before stay NULL ("not recorded"): nothing is made up.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-11 10:00:00

"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from newsletter.defaults import DEFAULT_CONSENT_TEXTS, consent_text_row

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

DEFAULT_LANGUAGE = "en"


def upgrade():
    with op.batch_alter_table("consent_text", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "locale", sa.String(length=8), nullable=False, server_default=DEFAULT_LANGUAGE
            )
        )
        batch_op.drop_constraint("uq_consent_text_version", type_="unique")
        batch_op.drop_constraint("uq_consent_text_sha256", type_="unique")
        batch_op.create_unique_constraint("uq_consent_text_locale_version", ["locale", "version"])
        batch_op.create_unique_constraint("uq_consent_text_locale_sha256", ["locale", "sha256"])
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topic_wording", sa.JSON(), nullable=True))
    _add_default_translations()


def _add_default_translations() -> None:
    table = sa.table(
        "consent_text",
        sa.column("locale"),
        sa.column("version"),
        sa.column("text"),
        sa.column("sha256"),
        sa.column("created_at"),
    )
    current = (
        op.get_bind()
        .execute(
            sa.select(table.c.sha256)
            .where(table.c.locale == DEFAULT_LANGUAGE)
            .order_by(table.c.version.desc())
            .limit(1)
        )
        .scalar()
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    default = consent_text_row(DEFAULT_LANGUAGE, DEFAULT_CONSENT_TEXTS[DEFAULT_LANGUAGE], now)
    if current != default["sha256"]:
        return
    rows = [
        consent_text_row(locale, text, now)
        for locale, text in DEFAULT_CONSENT_TEXTS.items()
        if locale != DEFAULT_LANGUAGE
    ]
    op.bulk_insert(table, rows)


def downgrade():
    op.execute(sa.text("DELETE FROM consent_text WHERE locale <> 'en'"))
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.drop_column("topic_wording")
    with op.batch_alter_table("consent_text", schema=None) as batch_op:
        batch_op.drop_constraint("uq_consent_text_locale_sha256", type_="unique")
        batch_op.drop_constraint("uq_consent_text_locale_version", type_="unique")
        batch_op.create_unique_constraint("uq_consent_text_sha256", ["sha256"])
        batch_op.create_unique_constraint("uq_consent_text_version", ["version"])
        batch_op.drop_column("locale")
