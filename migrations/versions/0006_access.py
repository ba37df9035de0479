"""Rectification of the address: the table of address changes awaiting confirmation.

A subscriber's new address waits in `address_change` until the confirmation link mailed
to it is used (a new double opt-in, GDPR Art. 16 with Art. 7(1)); the row is deleted on
confirmation, on erasure and by the purge of unconfirmed signups.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "address_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("new_email", sa.String(length=320), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscriber.id"],
            name=op.f("fk_address_change_subscriber_id_subscriber"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_change")),
    )
    with op.batch_alter_table("address_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_address_change_subscriber_id"), ["subscriber_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("address_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_address_change_subscriber_id"))
    op.drop_table("address_change")
