"""portal (issue 15): applicant identities, sealed, and their access log

As docs/schema-changes-portal.md lists them (services/intake/identity.py).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:10:42.904708
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applicant_access_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("who", sa.String(length=64), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("applicant_access_log_dossier", "applicant_access_log", ["dossier_code"], unique=False)
    op.create_index("ix_applicant_access_log_at", "applicant_access_log", ["at"], unique=False)
    op.create_table(
        "applicant_identities",
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("stored_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("dossier_code"),
    )
    op.create_index("ix_applicant_identities_key_id", "applicant_identities", ["key_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_applicant_identities_key_id", table_name="applicant_identities")
    op.drop_table("applicant_identities")
    op.drop_index("ix_applicant_access_log_at", table_name="applicant_access_log")
    op.drop_index("applicant_access_log_dossier", table_name="applicant_access_log")
    op.drop_table("applicant_access_log")
