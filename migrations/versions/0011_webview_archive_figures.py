"""The public archive of published campaigns and the per-campaign opt-out counters.

`published_campaign`: the sent campaigns the admin shows at /archive (no personal data).
`campaign_opt_out`: how many opt-outs one campaign's unsubscribe link caused per day, a
counter with no reference to any person (docs/FIGURES.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 01:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "published_campaign",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_published_campaign_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_published_campaign")),
    )
    op.create_table(
        "campaign_opt_out",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_campaign_opt_out_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "day", name=op.f("pk_campaign_opt_out")),
    )


def downgrade():
    op.drop_table("campaign_opt_out")
    op.drop_table("published_campaign")
