"""Triggers that tell the senders when who-may-get-mail changes (issue 17).

The one-row table recipient_change_count is created on both databases; on SQLite,
triggers count in it every change to what rule 3 reads, and the sender skips its
per-message re-check query while the count stands still. PostgreSQL has no triggers:
its sender re-checks every message (newsletter/sending/changes.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 22:00:00

"""

import sqlalchemy as sa
from alembic import op

from newsletter.sending import changes

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "recipient_change_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient_change_count")),
    )
    changes.create_triggers(op.get_bind())


def downgrade():
    changes.drop_triggers(op.get_bind())
    op.drop_table("recipient_change_count")
