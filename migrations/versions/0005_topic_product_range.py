"""Topic.product_range: what an own-similar-products topic is about, written down.

The existing-customer exception (ePrivacy Art. 13(2), Tw 11.7(3), KB 4-4-2003) covers only
the business's own products similar to those bought; marking a topic so now requires the
product range in words (issue 13). Topics already marked keep their mark with an empty
range: a campaign on such a topic that reaches existing customers is refused until the
range is written (compliance.soft_opt_in_problems), so nothing is invented here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("product_range", sa.Text(), nullable=False, server_default="")
        )


def downgrade():
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.drop_column("product_range")
