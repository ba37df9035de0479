"""On PostgreSQL, triggers that NOTIFY the senders when who-may-get-mail changes (issue 17).

The sender then skips its per-message re-check round trip while nothing changed
(newsletter/sending/changes.py). Nothing on SQLite.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 22:00:00

"""

from alembic import op

from newsletter.sending import changes

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    changes.create_triggers(op.get_bind())


def downgrade():
    changes.drop_triggers(op.get_bind())
