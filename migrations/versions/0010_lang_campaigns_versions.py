"""Language versions of a campaign (issue 15).

`campaign.locale`: the language of the text on the campaign row, its main version. Every
campaign so far was written for everyone, so its text becomes its version in the default
language (NEWSLETTER_DEFAULT_LANGUAGE when the configuration has one, else `en`).
`campaign_version`: a campaign's subject, preheader and body in each further language.
`delivery.locale`: the recipient's language when the recipients were fixed, for the
counts per language; filled from the subscriber for deliveries still tied to one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _default_language() -> str:
    try:
        from flask import current_app

        configured = current_app.config.get("DEFAULT_LANGUAGE")
    except RuntimeError:  # no application context (plain alembic)
        configured = None
    return configured if configured in ("nl", "fr", "en") else "en"


def upgrade():
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locale", sa.String(length=8), nullable=False, server_default="en")
        )
    default = _default_language()
    if default != "en":
        op.execute(sa.text("UPDATE campaign SET locale = :l").bindparams(l=default))
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=8), nullable=True))
    op.execute(
        "UPDATE delivery SET locale = (SELECT subscriber.locale FROM subscriber "
        "WHERE subscriber.id = delivery.subscriber_id) WHERE subscriber_id IS NOT NULL"
    )
    op.create_table(
        "campaign_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("preheader", sa.String(length=300), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_campaign_version_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_version")),
        sa.UniqueConstraint("campaign_id", "locale", name=op.f("uq_campaign_version_campaign_id")),
    )


def downgrade():
    op.drop_table("campaign_version")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("locale")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_column("locale")
