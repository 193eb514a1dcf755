"""edXML envelopes (docs/domain.md §10) built and read with lxml, checked against edxml.xsd.

Two kinds travel: a document (MessageHeader: a signing request carrying the draft, or the issued
document with its number, symbol, promulgation date and signer) and a status message (Status:
what the receiving side did with a document). Both the simulator and the sync connector use this
module, as sync uses the portal simulator's record model. Text is UTF-8 and never normalized, so
Vietnamese round-trips byte for byte.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from lxml import etree

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("edxml.xsd"))))
# Status codes as public implementations of the document axis use them; not an official list.
STATUS_CODES = {"received": "01", "refused": "02", "assigned": "03", "processing": "04", "done": "05",
                "returned": "06"}
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}


class EdxmlError(ValueError):
    """An envelope that is not well-formed or not valid edXML; the message says why."""


@dataclass(frozen=True)
class Organ:
    id: str  # OrganId: the unit's code in our unit list
    name: str


@dataclass(frozen=True)
class Signer:
    full_name: str
    position: str  # e.g. Chủ tịch
    competence: str  # thẩm quyền ký, e.g. TM. Ủy ban nhân dân


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Document:
    sender: Organ
    receiver: Organ
    document_id: str
    type: str  # DocumentType/Type, e.g. QĐ
    type_name: str  # e.g. Quyết định
    subject: str
    content: str = ""
    code_number: str | None = None  # số, once issued
    code_notation: str | None = None  # ký hiệu, e.g. QĐ-UBND
    place: str | None = None
    promulgated_on: date | None = None
    signer: Signer | None = None
    priority: int = 0
    page_amount: int = 1
    response_for: tuple[str, str] | None = None  # (OrganId, DocumentId) of the document answered
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class StatusMessage:
    sender: Organ
    receiver: Organ
    response_for: tuple[str, str]  # (OrganId, DocumentId) of the document it is about
    status: str  # a key of STATUS_CODES
    description: str
    timestamp: datetime


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{name}")
    if text is not None:
        element.text = text
    return element


def _organ(parent: etree._Element, name: str, organ: Organ) -> None:
    element = _sub(parent, name)
    _sub(element, "OrganId", organ.id)
    _sub(element, "OrganName", organ.name)


def _response_for(parent: etree._Element, ref: tuple[str, str]) -> None:
    element = _sub(parent, "ResponseFor")
    _sub(element, "OrganId", ref[0])
    _sub(element, "DocumentId", ref[1])


def _envelope() -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{{{NS}}}edXMLEnvelope", nsmap={"edXML": NS})
    return root, _sub(root, "edXMLHeader")


def _finish(root: etree._Element, attachments: tuple[Attachment, ...] = ()) -> bytes:
    body = _sub(root, "edXMLBody")
    for a in attachments:
        element = _sub(body, "Attachment")
        _sub(element, "AttachmentName", a.name)
        _sub(element, "ContentType", a.content_type)
        _sub(element, "Content", base64.b64encode(a.data).decode("ascii"))
    SCHEMA.assertValid(root)  # we never send what we would refuse
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_document(doc: Document) -> bytes:
    root, header = _envelope()
    h = _sub(header, "MessageHeader")
    _organ(h, "From", doc.sender)
    _organ(h, "To", doc.receiver)
    _sub(h, "DocumentId", doc.document_id)
    if doc.code_number is not None:
        code = _sub(h, "Code")
        _sub(code, "CodeNumber", doc.code_number)
        _sub(code, "CodeNotation", doc.code_notation)
    if doc.promulgated_on is not None:
        info = _sub(h, "PromulgationInfo")
        _sub(info, "Place", doc.place)
        _sub(info, "PromulgationDate", doc.promulgated_on.isoformat())
    kind = _sub(h, "DocumentType")
    _sub(kind, "Type", doc.type)
    _sub(kind, "TypeName", doc.type_name)
    _sub(h, "Subject", doc.subject)
    _sub(h, "Content", doc.content)
    if doc.signer is not None:
        signer = _sub(h, "SignerInfo")
        _sub(signer, "Competence", doc.signer.competence)
        _sub(signer, "Position", doc.signer.position)
        _sub(signer, "FullName", doc.signer.full_name)
    other = _sub(h, "OtherInfo")
    _sub(other, "Priority", str(doc.priority))
    _sub(other, "PageAmount", str(doc.page_amount))
    if doc.response_for is not None:
        _response_for(h, doc.response_for)
    return _finish(root, doc.attachments)


def build_status(msg: StatusMessage) -> bytes:
    root, header = _envelope()
    s = _sub(header, "Status")
    _response_for(s, msg.response_for)
    _organ(s, "From", msg.sender)
    _organ(s, "To", msg.receiver)
    _sub(s, "StatusCode", STATUS_CODES[msg.status])
    _sub(s, "Description", msg.description)
    _sub(s, "Timestamp", msg.timestamp.isoformat())
    return _finish(root)
