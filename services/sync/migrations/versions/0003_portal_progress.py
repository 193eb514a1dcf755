"""portal (issue 15): sync_progress_sent; the backlog's records in the portal's dialect

As docs/schema-changes-portal.md lists them. sync_backlog.record now holds
{"dossier_code", "record", "progress"}; rows queued by an older sync hold the old record and
cannot be rebuilt here, so the upgrade refuses while any wait (it changes nothing then): let
the older version deliver them first (the sync_backlog gauge at 0), then upgrade.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 12:10:50.100913
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    waiting = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM sync_backlog WHERE NOT (CAST(record AS jsonb) ? 'progress')"))
        .scalar()
    )
    if waiting:
        raise RuntimeError(
            f"{waiting} dossier revisions wait in sync_backlog in the old record format: "
            "start the previous version until its backlog is empty, then upgrade"
        )
    op.create_table(
        "sync_progress_sent",
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("step_key", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", "step_key"),
    )


def downgrade() -> None:
    op.drop_table("sync_progress_sent")
