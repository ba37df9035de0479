"""Admin roles (owner, editor), deactivation and two-factor login (issue 16).

Every admin that exists already becomes an owner: until now every admin could do
everything, and taking rights away silently would lock an installation out of its
own exports and erasures.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 01:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("admin_user") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="owner")
        )
        batch.add_column(sa.Column("deactivated_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("totp_secret", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("totp_enabled_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("admin_user") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_enabled_at")
        batch.drop_column("totp_secret")
        batch.drop_column("deactivated_at")
        batch.drop_column("role")
