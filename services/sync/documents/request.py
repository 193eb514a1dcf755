"""The signing request for a dossier: which dossiers need one, its record, and its edXML envelope.

Trigger (decided here): the first canonical state in which the dossier is processed (9) or its
result returned (10), its procedure's result is an official document (catalog
result_is_document) and it has no document number yet. The record is what the backlog keeps;
the envelope is rebuilt from it at each send, so a re-send is byte for byte the same request.
"""

from __future__ import annotations

from functools import cache

from services.docsys_simulator.edxml import Attachment, Document, Organ, build_document
from shared.event_types import DossierState, Status
from shared.units import UnitTree, load_units

DONE = (Status.PROCESSED, Status.RETURNED)


@cache
def units() -> UnitTree:
    return load_units()


def needs_signing(s: DossierState) -> bool:
    return s.result_is_document and s.status in DONE and s.document_number is None


def request_record(s: DossierState) -> dict:
    unit = units().units.get(s.unit_code)
    field = s.procedure.field if s.procedure else None
    return {
        "dossier_code": s.dossier_code,
        "unit_code": s.unit_code,
        "unit_name": unit.name if unit else s.unit_code,
        "procedure_code": s.procedure_code,
        "subject": f"Quyết định giải quyết hồ sơ {s.dossier_code}, thủ tục {s.procedure_code}"
                   + (f" (lĩnh vực {field})" if field else ""),
    }


def draft(record: dict) -> bytes:
    """The draft the official signs (dự thảo): plain UTF-8 text here, a PDF in production."""
    return (f"DỰ THẢO\nQUYẾT ĐỊNH\n{record['subject']}\n\n{record['unit_name'].upper()}\n"
            f"Căn cứ hồ sơ {record['dossier_code']} đã được giải quyết theo thủ tục {record['procedure_code']};\n"
            "QUYẾT ĐỊNH:\nĐiều 1. Chấp thuận kết quả giải quyết hồ sơ nêu trên.\n"
            "Điều 2. Quyết định có hiệu lực kể từ ngày ký.\n").encode()


def envelope(record: dict, system: Organ) -> bytes:
    """From this system to the dossier's unit; the dossier code is the DocumentId, the link
    every answer carries back in ResponseFor."""
    return build_document(Document(
        sender=system, receiver=Organ(record["unit_code"], record["unit_name"]),
        document_id=record["dossier_code"], type="QĐ", type_name="Quyết định", subject=record["subject"],
        content=f"Đề nghị ký, ban hành kết quả giải quyết hồ sơ {record['dossier_code']}",
        attachments=(Attachment(f"du-thao-{record['dossier_code']}.txt", "text/plain; charset=utf-8",
                                draft(record)),),
    ))
