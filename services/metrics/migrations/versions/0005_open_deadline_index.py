"""the overdue list's index holds open dossiers only: with every dossier in it, the list read past
years of closed ones before the first open one (3 s on ten province-years; now milliseconds)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 15:20:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A few seconds per ten million facts (the new index covers the open dossiers only).
    op.drop_index("ix_dossier_facts_open_deadline", table_name="dossier_facts")
    op.create_index(
        "ix_dossier_facts_open_deadline",
        "dossier_facts",
        ["deadline_at"],
        unique=False,
        postgresql_where="on_time IS NULL",
    )


def downgrade() -> None:
    op.drop_index("ix_dossier_facts_open_deadline", table_name="dossier_facts")
    op.create_index("ix_dossier_facts_open_deadline", "dossier_facts", ["deadline_at"], unique=False)
