"""Security (issue 13): document systems' push credentials; rejections keep a head, not the body

As docs/schema-changes-sec.md lists them: the table docsys_credentials, and docsys_rejections'
whole `envelope` replaced by its first 4 KB, its sha256 and its size (computed from the kept
envelopes on upgrade; a downgrade can restore only the heads).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 12:20:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "docsys_credentials",
        sa.Column("organs", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_docsys_credentials_name", "docsys_credentials", ["name"], unique=False)
    op.add_column("docsys_rejections", sa.Column("envelope_head", sa.LargeBinary(), nullable=True))
    op.add_column("docsys_rejections", sa.Column("envelope_sha256", sa.String(length=64), nullable=True))
    op.add_column("docsys_rejections", sa.Column("envelope_size", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE docsys_rejections SET envelope_head = substring(envelope from 1 for 4096), "
        "envelope_sha256 = encode(sha256(envelope), 'hex'), envelope_size = length(envelope)"
    )
    for column in ("envelope_head", "envelope_sha256", "envelope_size"):
        op.alter_column("docsys_rejections", column, nullable=False)
    op.drop_column("docsys_rejections", "envelope")


def downgrade() -> None:
    op.add_column("docsys_rejections", sa.Column("envelope", postgresql.BYTEA(), nullable=True))
    op.execute("UPDATE docsys_rejections SET envelope = envelope_head")
    op.alter_column("docsys_rejections", "envelope", nullable=False)
    op.drop_column("docsys_rejections", "envelope_size")
    op.drop_column("docsys_rejections", "envelope_sha256")
    op.drop_column("docsys_rejections", "envelope_head")
    op.drop_index("ix_docsys_credentials_name", table_name="docsys_credentials")
    op.drop_table("docsys_credentials")
