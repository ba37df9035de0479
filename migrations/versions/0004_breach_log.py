"""The personal-data breach log (GDPR Art. 33(5)): table `breach_log_entry`.

Append-only by design (corrections are new rows naming `corrects_id`); the application
refuses updates and deletes, the schema only holds the rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "breach_log_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=320), nullable=False),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=True),
        sa.Column("discovered_at", sa.DateTime(), nullable=False),
        sa.Column("nature", sa.Text(), nullable=False),
        sa.Column("data_categories", sa.Text(), nullable=False),
        sa.Column("people_affected", sa.Integer(), nullable=True),
        sa.Column("consequences", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("authority_notified", sa.Boolean(), nullable=False),
        sa.Column("authority_notified_at", sa.DateTime(), nullable=True),
        sa.Column("people_informed", sa.Boolean(), nullable=False),
        sa.Column("reasoning", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrects_id"],
            ["breach_log_entry.id"],
            name=op.f("fk_breach_log_entry_corrects_id_breach_log_entry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_log_entry")),
    )
    with op.batch_alter_table("breach_log_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_breach_log_entry_recorded_at"), ["recorded_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("breach_log_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_breach_log_entry_recorded_at"))
    op.drop_table("breach_log_entry")
