"""Blank the addresses quoted in SMTP replies stored before the redaction existed.

Servers quote the recipient in their replies ("550 5.1.1 <jan@example.be>: user
unknown"). Since issue 13 a reply is stored only after `compliance.redact_address` has
removed the address, and erasure scrubs the replies of the person erased. Rows written
by an older version of people erased back then still quote their address in
`delivery.last_error`: nothing ties such a row to the person any more (no subscriber, no
hash), so only a pass over every stored reply can clean it. Every address-shaped text is
replaced by "[address removed]", with the generic pattern of `compliance.redact_address`
(after the same NFKC normalisation, so a full-width "＠" is found too); the reply's code
and the server's words stay. GDPR Art. 5(1)(c), 17(1), 32.

The pattern is written out here, not imported from the application: a migration must do
tomorrow what it does today. On SQLite `secure_delete` (set on every connection) zeroes
the old cells, and the WAL is folded into the file when the last connection closes.

Downgrade changes nothing: the removed addresses are not kept anywhere.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00

"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

REDACTED = "[address removed]"
MAX_CHARS = 500  # the size of delivery.last_error
# compliance._ANY_ADDRESS as of this revision.
ANY_ADDRESS = re.compile(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+\.[^\s<>\"'(),;:\[\]]{2,}")
BATCH = 1000


def redacted(text):
    """`text` with every address-shaped part blanked, or None when it holds none."""
    cleaned, found = ANY_ADDRESS.subn(REDACTED, unicodedata.normalize("NFKC", text))
    return cleaned[:MAX_CHARS] if found else None


def upgrade():
    delivery = sa.table("delivery", sa.column("id", sa.Integer), sa.column("last_error", sa.String))
    connection = op.get_bind()
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(delivery.c.id, delivery.c.last_error)
            .where(delivery.c.id > last_id, delivery.c.last_error.is_not(None))
            .order_by(delivery.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for row_id, text in rows:
            cleaned = redacted(text)
            if cleaned is not None:
                connection.execute(
                    delivery.update().where(delivery.c.id == row_id).values(last_error=cleaned)
                )
        last_id = rows[-1][0]


def downgrade():
    pass
