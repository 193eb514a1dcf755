"""Intake's own tables: every accepted event (the inbox), the counter systems' API keys, and the
applicant's clear identity, sealed, with the log of its reads."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, LargeBinary, MetaData, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSON
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.credentials import CredentialColumns


class Base(DeclarativeBase):
    metadata = MetaData()


class AcceptedEvent(Base):
    __tablename__ = "accepted_events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # sha256 of the canonical form: a re-post with the same id but other content is a conflict.
    digest: Mapped[str] = mapped_column(String(64))
    # The event as accepted, byte for byte: `json` keeps the text as is, and costs PostgreSQL
    # less to write than `jsonb` (nothing queries inside it).
    body: Mapped[dict] = mapped_column(JSON)
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKey(CredentialColumns, Base):
    """A counter system's API key: only its sha256 is kept; the key is shown once, at creation."""

    __tablename__ = "api_keys"

    # Unit codes it may post for; a unit covers every unit below it in the tree (H44: all).
    units: Mapped[list[str]] = mapped_column(ARRAY(String(32)))


class ApplicantIdentity(Base):
    """The applicant's clear identity, sealed (identity.py): one row per dossier, nothing else holds it."""

    __tablename__ = "applicant_identities"

    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # nonce ‖ AES-GCM(number, name); NULL once erased
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApplicantAccessLog(Base):
    """Every read of a clear identity: who, when, which dossier, for what (identity.py)."""

    __tablename__ = "applicant_access_log"
    __table_args__ = (Index("applicant_access_log_dossier", "dossier_code"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    who: Mapped[str] = mapped_column(String(64))  # the service credential's name, or "operator:<command>"
    dossier_code: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
