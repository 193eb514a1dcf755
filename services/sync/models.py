"""What the sync service has delivered to the portal, per dossier."""

from datetime import datetime

from sqlalchemy import DateTime, Integer, MetaData, SmallInteger, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class SyncState(Base):
    __tablename__ = "sync_state"

    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)  # the dossier revision the portal holds
    status: Mapped[int] = mapped_column(SmallInteger)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
