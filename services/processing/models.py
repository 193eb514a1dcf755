"""Processing's tables: every distinct event per dossier, the folded dossier, the catalog."""

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, MetaData, SmallInteger, String, func, text
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class DossierEvent(Base):
    """Each distinct intake event (by id); the dossier is re-folded from these."""

    __tablename__ = "dossier_events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(64))
    # `json`, not `jsonb`: stored and read back whole, never queried inside; cheaper both ways.
    data: Mapped[dict] = mapped_column(JSON)


class Dossier(Base):
    """The current canonical state (the last published dossier.state)."""

    __tablename__ = "dossiers"
    __table_args__ = (Index("ix_dossiers_overdue_timer", "deadline_at", postgresql_where=text("overdue_pending")),)

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32))
    status: Mapped[int] = mapped_column(SmallInteger)
    revision: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Open dossiers whose overdue timer has not fired yet; the timer polls this partial index.
    overdue_pending: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[dict] = mapped_column(JSON)  # rewritten on every fold; read whole by the API
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ProcedureRow(Base):
    """The procedure catalog; seeded from data/procedures.json, editable through the API."""

    __tablename__ = "procedures"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    definition: Mapped[dict] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class AnomalyRow(Base):
    """Events not applied because the dossier's status did not allow them (current fold)."""

    __tablename__ = "anomalies"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(500))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PendingCatalog(Base):
    """Dossiers held because the catalog does not know their procedure or unit yet (current fold).

    They are received and counted but not judged; the catalog's learning the code re-folds them.
    """

    __tablename__ = "pending_catalog"

    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)  # procedure:X or unit:Y
    unit_code: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
