"""The connector's tables, in the sync service's schema beside sync_backlog and sync_state."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Index, LargeBinary, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from services.sync.models import BacklogColumns, Base, StateColumns
from shared.credentials import CredentialColumns


class DocsysBacklog(BacklogColumns, Base):
    """Signing requests not yet taken by the document system (drained by a DeliveryWorker)."""

    __tablename__ = "docsys_backlog"
    __table_args__ = (Index("docsys_backlog_due", "next_attempt_at"),)


class DocsysRequest(StateColumns, Base):
    """Per dossier, the signing request the document system took, and what became of it."""

    __tablename__ = "docsys_requests"

    # requested → arrived → accepted → waiting → processing → issued (status codes 01, 03, 04, 05, then
    # the document); refused (02) or recalled (15): an operator may send it again
    state: Mapped[str] = mapped_column(String(16), default="requested", server_default="requested")


class DocsysDocument(Base):
    """The issued document, recorded on the dossier as its electronic result, until recalled."""

    __tablename__ = "docsys_documents"
    # One live document per dossier; a recalled one stays (withdrawn_at set) beside its successor.
    __table_args__ = (
        Index("docsys_documents_live", "dossier_code", unique=True, postgresql_where=text("withdrawn_at IS NULL")),
    )

    document_id: Mapped[str] = mapped_column(String(128), primary_key=True)  # the issuer's edXML DocumentId
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    number: Mapped[str] = mapped_column(String(16))  # số
    symbol: Mapped[str] = mapped_column(String(64))  # ký hiệu
    promulgated_on: Mapped[date] = mapped_column(Date)
    signer: Mapped[str] = mapped_column(String(200))
    signer_position: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str | None] = mapped_column(String(200))
    file: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    signed_by: Mapped[str | None] = mapped_column(String(500))  # the verified signer's certificate subject
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # recall agreed (status 15)


class DocsysStatus(Base):
    """Each status message once (the document system may offer one again until acknowledged)."""

    __tablename__ = "docsys_statuses"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the envelope
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))  # the edXML StatusCode (01…16)
    description: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DocsysRejection(Base):
    """An envelope refused on the way in, with the reason (also on the dead-letter topic): its
    sha256, its size and its first 4 KB, never the whole body (one request must not fill the
    database)."""

    __tablename__ = "docsys_rejections"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    reason: Mapped[str] = mapped_column(Text)
    dossier_code: Mapped[str | None] = mapped_column(String(64), index=True)
    document_id: Mapped[str | None] = mapped_column(String(200))
    envelope_head: Mapped[bytes] = mapped_column(LargeBinary)  # the first HEAD_BYTES bytes
    envelope_sha256: Mapped[str] = mapped_column(String(64))
    envelope_size: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DocsysCredential(CredentialColumns, Base):
    """A document system's credential for pushing envelopes (POST /v1/documents/inbox): only its
    sha256 is kept; it is bound to the organ ids (unit codes) whose envelopes it may push."""

    __tablename__ = "docsys_credentials"

    organs: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
