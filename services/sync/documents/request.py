"""The signing request for a dossier: which dossiers need one, its record, and its edXML envelope.

Trigger (decided here): the first canonical state in which the dossier is processed (9) or its
result returned (10), its procedure's result is an official document (catalog
result_is_document) and it has no document number yet. The record is what the backlog keeps;
the envelope is rebuilt from it at each send, so a re-send is byte for byte the same request
(RSA PKCS#1 v1.5 signatures are deterministic).

On the axis a document is named by its DocumentId (OrganId,yyyy/MM/dd,Number/Notation). A
signing request is this system's document: its number is the dossier code and its notation
REQUEST_NOTATION, so every answer (ResponseFor) names the dossier it is about.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from services.sync.documents.edxml import (
    Attachment,
    Business,
    Document,
    DocumentType,
    Organ,
    Staff,
    Trace,
    build_document,
    document_id,
    split_document_id,
)
from services.sync.documents.organs import organ, units
from services.sync.documents.signing import SigningKey
from shared.event_types import DossierState, Status

DONE = (Status.PROCESSED, Status.RETURNED)
VN = ZoneInfo("Asia/Ho_Chi_Minh")
REQUEST_NOTATION = "PTr-HCC"  # phiếu trình of the public administrative service centre
# DocumentType/Type is an integer on the axis; the public sample shows 1 = Công văn (official
# letter). The official code list is not public: ours is in docs/documents.md.
REQUEST_TYPE = DocumentType(type=1, detail=0, name="Công văn")
DECISION_TYPE = DocumentType(type=2, detail=0, name="Quyết định")
DESK = Staff(department="Bộ phận tiếp nhận và trả kết quả", name="Trung tâm Phục vụ hành chính công")


def needs_signing(s: DossierState) -> bool:
    return s.result_is_document and s.status in DONE and s.document_number is None


def request_record(s: DossierState) -> dict:
    unit = units().units.get(s.unit_code)
    field = s.procedure.field if s.procedure else None
    asked = (s.end_at or s.returned_at or s.received_at or datetime.now(VN)).astimezone(VN)
    return {
        "dossier_code": s.dossier_code,
        "unit_code": s.unit_code,
        "unit_name": unit.name if unit else s.unit_code,
        "procedure_code": s.procedure_code,
        "subject": f"Quyết định giải quyết hồ sơ {s.dossier_code}, thủ tục {s.procedure_code}"
        + (f" (lĩnh vực {field})" if field else ""),
        "requested_at": asked.replace(microsecond=0).isoformat(),
    }


def draft(record: dict) -> bytes:
    """The draft the official signs (dự thảo): plain UTF-8 text here, a PDF in production."""
    return (
        f"DỰ THẢO\nQUYẾT ĐỊNH\n{record['subject']}\n\n{record['unit_name'].upper()}\n"
        f"Căn cứ hồ sơ {record['dossier_code']} đã được giải quyết theo thủ tục {record['procedure_code']};\n"
        "QUYẾT ĐỊNH:\nĐiều 1. Chấp thuận kết quả giải quyết hồ sơ nêu trên.\n"
        "Điều 2. Quyết định có hiệu lực kể từ ngày ký.\n"
    ).encode()


def _asked(record: dict) -> datetime:
    if "requested_at" in record:
        return datetime.fromisoformat(record["requested_at"])
    day = record["dossier_code"].rsplit("-", 2)[1]  # a record from before requested_at: the code's date
    return datetime.strptime(day, "%y%m%d").replace(tzinfo=VN)


def request_document_id(record: dict, system: Organ) -> str:
    return document_id(system.id, _asked(record).date(), record["dossier_code"], REQUEST_NOTATION)


def dossier_of(request_id: str, system: Organ) -> str | None:
    """The dossier code a DocumentId of our signing requests names, or None if it is not one."""
    parts = split_document_id(request_id)
    if not parts or parts["organ"] != system.id or parts["notation"] != REQUEST_NOTATION:
        return None
    return parts["number"]


def envelope(record: dict, system: Organ, key: SigningKey | None = None) -> bytes:
    """From this system to the dossier's unit, signed when a key is configured."""
    asked = _asked(record)
    return build_document(
        Document(
            sender=system,
            receivers=(organ(record["unit_code"]),),
            number=record["dossier_code"],
            notation=REQUEST_NOTATION,
            place="Phú Thọ",
            promulgated_on=asked.date(),
            type=REQUEST_TYPE,
            subject=record["subject"],
            content=f"Đề nghị ký, ban hành kết quả giải quyết hồ sơ {record['dossier_code']}",
            traces=(Trace(system.id, asked),),
            business=Business(staff=(DESK,)),
            attachments=(
                Attachment(
                    f"du-thao-{record['dossier_code']}.txt",
                    "text/plain; charset=utf-8",
                    draft(record),
                    "Dự thảo quyết định",
                ),
            ),
        ),
        key,
    )
