"""Retired public ids: the links of older messages reach the person as they are now.

When a subscriber is deleted (opt-out, erasure, a lapsed basis), their public id moves to
this table with the keyed hash of the address (never the address). An unsubscribe or
preferences link of an older message then finds the person's current subscriber, if any
(compliance.opt_out_link_reaches_current_subscription). Subscribers deleted before this
migration left nothing to link their old ids to; their links answer that no subscription
is held for them.

Downgrade drops the table: older links then stop reaching a newer subscription.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "retired_public_id",
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("public_id", name=op.f("pk_retired_public_id")),
    )
    with op.batch_alter_table("retired_public_id", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_retired_public_id_address_hash"), ["address_hash"], unique=False
        )


def downgrade():
    with op.batch_alter_table("retired_public_id", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retired_public_id_address_hash"))
    op.drop_table("retired_public_id")
