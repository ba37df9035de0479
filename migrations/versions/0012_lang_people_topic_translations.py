"""Topic names and descriptions per language (issue 15).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 01:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "topic_translation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topic.id"],
            name=op.f("fk_topic_translation_topic_id_topic"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_translation")),
        sa.UniqueConstraint("topic_id", "locale", name="uq_topic_translation_locale"),
    )
    with op.batch_alter_table("topic_translation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_topic_translation_topic_id"), ["topic_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("topic_translation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_topic_translation_topic_id"))
    op.drop_table("topic_translation")
