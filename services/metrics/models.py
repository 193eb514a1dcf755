"""Per-dossier facts: the latest canonical state of each dossier and its portal sync.

Indicators are computed from these rows, so a late or repeated event replaces a fact
instead of adding to a count.
"""

from datetime import datetime

from sqlalchemy import DDL, Boolean, DateTime, Float, Index, Integer, MetaData, SmallInteger, String, event, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class DossierFact(Base):
    __tablename__ = "dossier_facts"
    __table_args__ = (
        Index("ix_dossier_facts_received_unit", "received_at", "unit_code"),
        # The overdue list reads open dossiers in deadline order: only theirs (with every closed
        # dossier too, it walked years of closed entries first: 3 s on ten province-years).
        Index("ix_dossier_facts_open_deadline", "deadline_at", postgresql_where=text("on_time IS NULL")),
    )

    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    unit_code: Mapped[str] = mapped_column(String(32))
    procedure_code: Mapped[str] = mapped_column(String(16))
    channel: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[int] = mapped_column(SmallInteger)
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    digitized: Mapped[bool] = mapped_column(Boolean)  # every component and the result digitized
    electronic_result: Mapped[bool] = mapped_column(Boolean)
    # A processed result that is an official document (catalog), and whether the document system
    # issued it and it came back (docs/domain.md §10, Plan 617: the connection target of 100%).
    document_expected: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    document_result: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    reused: Mapped[bool] = mapped_column(Boolean)  # at least one component reused
    personal_store: Mapped[bool] = mapped_column(Boolean)
    population_data: Mapped[bool] = mapped_column(Boolean)
    has_fee: Mapped[bool] = mapped_column(Boolean)  # a financial obligation
    paid_online: Mapped[bool] = mapped_column(Boolean)
    feedback: Mapped[int] = mapped_column(SmallInteger)  # PAKN received
    feedback_on_time: Mapped[int] = mapped_column(SmallInteger)
    feedback_satisfied: Mapped[int] = mapped_column(SmallInteger)
    disliked: Mapped[bool] = mapped_column(Boolean)
    # The procedure's catalog facts at folding time (for the 766 components B, C and MDSH).
    proc_field: Mapped[str | None] = mapped_column(String(200))
    proc_online: Mapped[str | None] = mapped_column(String(8))
    proc_has_fee: Mapped[bool] = mapped_column(Boolean)
    proc_online_payment: Mapped[bool] = mapped_column(Boolean)
    proc_fee_synced: Mapped[bool] = mapped_column(Boolean)
    proc_population: Mapped[bool] = mapped_column(Boolean)
    # --- Facts for the corrected formulas (issue 14; docs/indicators.md says which indicator reads
    # which; migration 0002 adds them). All have defaults so rows written before them stay valid.
    online_counted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")  # 3.3
    fee_owed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")  # 3.6 denominator
    fee_data: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")  # 3.5: fee items sent
    handling_time: Mapped[float | None] = mapped_column(Float)  # 2.2, in the procedure's time unit
    time_unit: Mapped[str | None] = mapped_column(String(16))
    receiving_unit_code: Mapped[str | None] = mapped_column(String(32))  # received outside the handling unit
    returned_by_post: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    pending_catalog: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")  # held, unjudged


# create_all does not add columns to a table that exists (a deployed schema from before the
# document connector): add them here, idempotently, until migrations come with Alembic.
event.listen(
    Base.metadata,
    "after_create",
    DDL(
        "ALTER TABLE dossier_facts ADD COLUMN IF NOT EXISTS document_expected boolean NOT NULL DEFAULT false, "
        "ADD COLUMN IF NOT EXISTS document_result boolean NOT NULL DEFAULT false"
    ),
)


class PortalSyncFact(Base):
    __tablename__ = "portal_sync_facts"

    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(SmallInteger)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
