"""What the sync service has delivered to the portal, and what it still has to deliver."""

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, MetaData, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class StateColumns:
    """What a delivery target holds per dossier (shared by the portal and the document system)."""

    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)  # the dossier revision the target holds
    status: Mapped[int] = mapped_column(SmallInteger)
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # `json`, not `jsonb`: records are stored and read back whole, never queried inside.
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BacklogColumns:
    """The newest revision per dossier not yet at a target (durable; drained by delivery.py).

    A row is claimed by a lease (leased_until) rather than a lock held across the HTTP call, so
    the consumer's upserts never wait on the target and only one send per dossier is in flight.
    """

    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(SmallInteger)
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    parked: Mapped[bool] = mapped_column(Boolean, default=False)  # refused by the target: wait for a fix
    last_error: Mapped[str | None] = mapped_column(Text)
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SyncState(StateColumns, Base):
    """Per dossier, the revision the portal holds and the record it was sent (for re-sends)."""

    __tablename__ = "sync_state"


class SyncBacklog(BacklogColumns, Base):
    """The newest revision per dossier not yet on the portal."""

    __tablename__ = "sync_backlog"
    __table_args__ = (Index("sync_backlog_due", "next_attempt_at"),)


class SyncProgressSent(Base):
    """Each progress step (CapNhatTienDoHoSoMC) the portal accepted, so it is never sent again."""

    __tablename__ = "sync_progress_sent"

    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    step_key: Mapped[str] = mapped_column(String(32), primary_key=True)  # codec.step_key
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
