"""edXML (issue 16): docsys_documents withdrawn_at, signed_by, one live document per dossier

As docs/schema-changes-edxml.md lists them. A recalled document stays beside its successor, so
the unique constraint on dossier_code becomes a partial unique index over the live ones.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 11:46:47.153574
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("docsys_documents", sa.Column("signed_by", sa.String(length=500), nullable=True))
    op.add_column("docsys_documents", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint("docsys_documents_dossier_code_key", "docsys_documents", type_="unique")
    op.create_index(
        "docsys_documents_live",
        "docsys_documents",
        ["dossier_code"],
        unique=True,
        postgresql_where=sa.text("withdrawn_at IS NULL"),
    )
    op.create_index("ix_docsys_documents_dossier_code", "docsys_documents", ["dossier_code"], unique=False)
    # The document system's old "returned" is now a refusal, which an operator can resend.
    op.execute("UPDATE docsys_requests SET state = 'refused' WHERE state = 'returned'")


def downgrade() -> None:
    op.drop_index("ix_docsys_documents_dossier_code", table_name="docsys_documents")
    op.drop_index("docsys_documents_live", table_name="docsys_documents")
    op.create_unique_constraint("docsys_documents_dossier_code_key", "docsys_documents", ["dossier_code"])
    op.drop_column("docsys_documents", "withdrawn_at")
    op.drop_column("docsys_documents", "signed_by")
