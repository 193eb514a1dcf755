"""bench regression (issue 15): the rollups' change tables hold changes until the fold sums them
into the buckets (about a second), across transactions: logged, so that a crash keeps them

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:00:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("rollup_day_changes", "rollup_open_changes")


def upgrade() -> None:
    # Under 0003 each transaction emptied them before it committed: nothing to carry over.
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET LOGGED")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET UNLOGGED")
