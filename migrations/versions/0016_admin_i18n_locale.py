"""The language each admin chose for the admin pages (issue 15, point 4).

`admin_user.locale`: nl, fr or en; NULL (every existing admin) means "the browser's
language, else English", which is what the admin saw before.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 01:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("admin_user") as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table("admin_user") as batch_op:
        batch_op.drop_column("locale")
