"""Import evidence kept with the consent event, and the markers of lapsed bases (issue 13).

`import_evidence`: one row per "import" consent event, holding what the imported row
proves (the consent's wording or a reference to it, when, where, how, from which earlier
system; or the purchase date and how the opt-out was offered at collection). Deleted
with its event (ON DELETE CASCADE), so consent-evidence retention removes both.

`lapsed_basis`: a keyed hash of the address (never the address), the basis that lapsed
and the date of the evidence that lapsed, so that an import cannot bring the person back
on the same evidence.

Events imported before this revision have no evidence row: nothing is invented for them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consent_event_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("given_at", sa.DateTime(), nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=True),
        sa.Column("consent_text_ref", sa.String(length=500), nullable=True),
        sa.Column("consent_where", sa.String(length=500), nullable=True),
        sa.Column("consent_how", sa.String(length=500), nullable=True),
        sa.Column("consent_system", sa.String(length=200), nullable=True),
        sa.Column("optout_offered", sa.String(length=500), nullable=True),
        sa.Column("declared_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_event_id"],
            ["consent_event.id"],
            name=op.f("fk_import_evidence_consent_event_id_consent_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_evidence")),
        sa.UniqueConstraint("consent_event_id", name=op.f("uq_import_evidence_consent_event_id")),
    )
    op.create_table(
        "lapsed_basis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("evidence_date", sa.DateTime(), nullable=True),
        sa.Column("lapsed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lapsed_basis")),
        sa.UniqueConstraint("address_hash", "basis", name=op.f("uq_lapsed_basis_address_hash")),
    )


def downgrade():
    op.drop_table("lapsed_basis")
    op.drop_table("import_evidence")
