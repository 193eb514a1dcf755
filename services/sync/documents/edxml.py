"""edXML (QCVN 102:2016) as the national document axis writes it: built, signed, checked and read.

Two messages travel (docs/documents.md): a document (MessageHeader with From, To, DocumentId,
Code, …; its files in AttachmentEncoded, listed by cid: in edXMLBody/edXMLManifest) and a status
message (MessageHeader with From, ResponseFor, StaffInfo, StatusCode, Description, Timestamp).
Every envelope is checked against edxml.xsd both ways: we never send what we would refuse.
Text is UTF-8 and never normalized, so Vietnamese round-trips byte for byte in NFC or NFD.

This module is the contract with the document-management system; its simulator imports it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from lxml import etree

from services.sync.documents.signing import DSIG, SignatureRefused, SigningKey, Verifier
from shared.event_types import DOCUMENT_STATUS_NAMES

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("edxml.xsd"))))
VN = ZoneInfo("Asia/Ho_Chi_Minh")  # edXML dates and timestamps are Vietnam local time, without offset
DATE, TIMESTAMP = "%Y/%m/%d", "%Y/%m/%d %H:%M:%S"
MAX_BYTES = 20 * 1024 * 1024

# StatusCode, as the axis's status messages use it (docs/documents.md). Nothing else is accepted.
ARRIVED, REFUSED, ACCEPTED, WAITING, PROCESSING, FINISHED = "01", "02", "03", "04", "05", "06"
RECALL, RECALL_AGREED, RECALL_REFUSED = "13", "15", "16"
STATUS_CODES = DOCUMENT_STATUS_NAMES  # code -> its Vietnamese name, in the event contract too
NEW_DOCUMENT = 0  # Bussiness/BussinessDocType of a new document
_DOCUMENT_ID = re.compile(r"^(?P<organ>[^,]+),(?P<date>\d{4}/\d{2}/\d{2}),(?P<number>[^,/]+)/(?P<notation>[^,]+)$")


class EdxmlError(ValueError):
    """An envelope that is not well-formed, not valid edXML, or not signed as it must be; the
    message says why."""


@dataclass(frozen=True)
class Organ:
    """From / To: the organ and its contact elements."""

    id: str  # OrganId: the national electronic identifier, e.g. 000.00.30.H44
    name: str
    in_charge: str = ""  # OrganizationInCharge: the organ it reports to
    address: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""


@dataclass(frozen=True)
class Staff:
    department: str
    name: str
    email: str = ""
    mobile: str = ""


@dataclass(frozen=True)
class Signer:
    competence: str  # thẩm quyền ký, e.g. TM. Ủy ban nhân dân
    position: str  # e.g. Chủ tịch
    full_name: str


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    data: bytes
    description: str = ""


@dataclass(frozen=True)
class DocumentType:
    type: int  # Type: an integer class of document
    detail: int  # TypeDetail
    name: str  # TypeName, e.g. Quyết định


@dataclass(frozen=True)
class DocumentRef:
    """ResponseFor: the document a message answers or is about."""

    organ_id: str  # the organ that issued it
    code: str  # Number/Notation
    promulgated_on: date
    document_id: str


@dataclass(frozen=True)
class Trace:
    organ_id: str
    at: datetime


@dataclass(frozen=True)
class Business:
    doc_type: int = NEW_DOCUMENT
    reason: str = "Văn bản điện tử mới"
    paper: int = 0  # 1 when a paper copy follows
    document_id: str | None = None
    staff: tuple[Staff, ...] = ()


def document_id(organ_id: str, promulgated_on: date, number: str, notation: str) -> str:
    """DocumentId: OrganId,yyyy/MM/dd,Number/Notation."""
    return f"{organ_id},{promulgated_on.strftime(DATE)},{number}/{notation}"


def split_document_id(value: str) -> dict[str, str] | None:
    """{organ, date, number, notation} of a DocumentId, or None when it has not that form."""
    found = _DOCUMENT_ID.match(value)
    return found.groupdict() if found else None


@dataclass(frozen=True)
class Document:
    sender: Organ
    receivers: tuple[Organ, ...]
    number: str  # CodeNumber (số)
    notation: str  # CodeNotation (ký hiệu), e.g. QĐ-UBND
    place: str
    promulgated_on: date
    type: DocumentType
    subject: str
    content: str = ""
    signer: Signer | None = None
    due_on: date | None = None
    priority: int = 0
    sphere: str = ""  # SphereOfPromulgation
    typer_notation: str = ""
    promulgation_amount: int = 1
    page_amount: int = 1
    direction: bool | None = None
    appendixes: tuple[str, ...] = ()
    response_for: tuple[DocumentRef, ...] = ()
    steering_type: int | None = None
    to_places: tuple[str, ...] = ()
    traces: tuple[Trace, ...] = ()
    business: Business | None = None
    attachments: tuple[Attachment, ...] = ()
    document_id: str = ""  # derived from the sender, date and code when left empty
    signed_by: str | None = field(default=None, compare=False)  # the verified signer, when read

    def __post_init__(self) -> None:
        if not self.document_id:
            object.__setattr__(
                self, "document_id", document_id(self.sender.id, self.promulgated_on, self.number, self.notation)
            )

    @property
    def code(self) -> str:
        return f"{self.number}/{self.notation}"

    def ref(self) -> DocumentRef:
        return DocumentRef(self.sender.id, self.code, self.promulgated_on, self.document_id)


@dataclass(frozen=True)
class StatusMessage:
    sender: Organ
    response_for: DocumentRef
    staff: Staff
    code: str  # StatusCode, a key of STATUS_CODES
    description: str
    timestamp: datetime
    signed_by: str | None = field(default=None, compare=False)


# Building.


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{name}")
    if text is not None:
        element.text = text
    return element


def _organ(parent: etree._Element, name: str, organ: Organ) -> None:
    element = _sub(parent, name)
    for tag, value in (
        ("OrganId", organ.id),
        ("OrganizationInCharge", organ.in_charge),
        ("OrganName", organ.name),
        ("OrganAdd", organ.address),
        ("Email", organ.email),
        ("Telephone", organ.telephone),
        ("Fax", organ.fax),
        ("Website", organ.website),
    ):
        _sub(element, tag, value)


def _staff(parent: etree._Element, staff: Staff) -> None:
    element = _sub(parent, "StaffInfo")
    _sub(element, "Department", staff.department)
    _sub(element, "Staff", staff.name)
    _sub(element, "Email", staff.email)
    _sub(element, "Mobile", staff.mobile)


def _ref(parent: etree._Element, ref: DocumentRef) -> None:
    element = _sub(parent, "ResponseFor")
    _sub(element, "OrganId", ref.organ_id)
    _sub(element, "Code", ref.code)
    _sub(element, "PromulgationDate", ref.promulgated_on.strftime(DATE))
    _sub(element, "DocumentId", ref.document_id)


def _stamp(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("a timestamp must carry its offset")
    return at.astimezone(VN).strftime(TIMESTAMP)


def _envelope() -> tuple[etree._Element, etree._Element, etree._Element]:
    """(root, edXMLEnvelope, edXMLHeader)."""
    root = etree.Element(f"{{{NS}}}edXML", nsmap={None: NS})
    envelope = _sub(root, "edXMLEnvelope")
    return root, envelope, _sub(envelope, "edXMLHeader")


def _finish(root: etree._Element, header: etree._Element, key: SigningKey | None) -> bytes:
    if key is not None:  # signxml puts the signature in place of this placeholder
        etree.SubElement(header, f"{{{DSIG}}}Signature", Id="placeholder", nsmap={"ds": DSIG})
        root = key.sign(root)
    SCHEMA.assertValid(root)  # we never send what we would refuse
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_document(doc: Document, key: SigningKey | None = None) -> bytes:
    root, envelope, header = _envelope()
    h = _sub(header, "MessageHeader")
    _organ(h, "From", doc.sender)
    for receiver in doc.receivers:
        _organ(h, "To", receiver)
    _sub(h, "DocumentId", doc.document_id)
    code = _sub(h, "Code")
    _sub(code, "CodeNumber", doc.number)
    _sub(code, "CodeNotation", doc.notation)
    info = _sub(h, "PromulgationInfo")
    _sub(info, "Place", doc.place)
    _sub(info, "PromulgationDate", doc.promulgated_on.strftime(DATE))
    kind = _sub(h, "DocumentType")
    _sub(kind, "Type", str(doc.type.type))
    _sub(kind, "TypeDetail", str(doc.type.detail))
    _sub(kind, "TypeName", doc.type.name)
    _sub(h, "Subject", doc.subject)
    _sub(h, "Content", doc.content)
    if doc.signer is not None:
        signer = _sub(h, "SignerInfo")
        _sub(signer, "Competence", doc.signer.competence)
        _sub(signer, "Position", doc.signer.position)
        _sub(signer, "FullName", doc.signer.full_name)
    if doc.due_on is not None:
        _sub(h, "DueDate", doc.due_on.strftime(DATE))
    other = _sub(h, "OtherInfo")
    _sub(other, "Priority", str(doc.priority))
    _sub(other, "SphereOfPromulgation", doc.sphere)
    _sub(other, "TyperNotation", doc.typer_notation)
    _sub(other, "PromulgationAmount", str(doc.promulgation_amount))
    _sub(other, "PageAmount", str(doc.page_amount))
    if doc.direction is not None:
        _sub(other, "Direction", "true" if doc.direction else "false")
    if doc.appendixes:
        appendixes = _sub(other, "Appendixes")
        for text in doc.appendixes:
            _sub(appendixes, "Appendix", text)
    for ref in doc.response_for:
        _ref(h, ref)
    if doc.steering_type is not None:
        _sub(h, "SteeringType", str(doc.steering_type))
    if doc.to_places:
        places = _sub(h, "ToPlaces")
        for place in doc.to_places:
            _sub(places, "Place", place)
    if doc.traces or doc.business:
        traces = _sub(header, "TraceHeaderList")
        for trace in doc.traces:
            element = _sub(traces, "TraceHeader")
            _sub(element, "OrganId", trace.organ_id)
            _sub(element, "Timestamp", _stamp(trace.at))
        if doc.business is not None:
            b = _sub(traces, "Bussiness")
            if doc.business.document_id:
                _sub(b, "DocumentId", doc.business.document_id)
            _sub(b, "BussinessDocType", str(doc.business.doc_type))
            _sub(b, "BussinessDocReason", doc.business.reason)
            _sub(b, "Paper", str(doc.business.paper))
            for staff in doc.business.staff:
                _staff(b, staff)
    manifest = _sub(_sub(envelope, "edXMLBody"), "edXMLManifest")
    manifest.set("version", "1.0")
    encoded = _sub(root, "AttachmentEncoded")
    for n, a in enumerate(doc.attachments, start=1):
        cid = f"cid:{n}"
        ref = _sub(manifest, "Reference")
        for tag, value in (
            ("ContentId", cid),
            ("ContentType", a.content_type),
            ("Description", a.description),
            ("AttachmentName", a.name),
        ):
            _sub(ref, tag, value)
        item = _sub(encoded, "Attachment")
        for tag, value in (
            ("ContentId", cid),
            ("AttachmentName", a.name),
            ("Description", a.description),
            ("ContentType", a.content_type),
            ("ContentTransferEncoded", base64.b64encode(a.data).decode("ascii")),
        ):
            _sub(item, tag, value)
    return _finish(root, header, key)


def build_status(msg: StatusMessage, key: SigningKey | None = None) -> bytes:
    if msg.code not in STATUS_CODES:
        raise ValueError(f"unknown status code {msg.code!r}")
    root, _, header = _envelope()
    h = _sub(header, "MessageHeader")
    _organ(h, "From", msg.sender)
    _ref(h, msg.response_for)
    _staff(h, msg.staff)
    _sub(h, "StatusCode", msg.code)
    _sub(h, "Description", msg.description)
    _sub(h, "Timestamp", _stamp(msg.timestamp))
    return _finish(root, header, key)


# Reading.

# No entities, no network, no DTDs: an envelope from outside cannot make us fetch or expand anything.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _q(path: str) -> str:
    return "/".join(f"{{{NS}}}{p}" for p in path.split("/"))


def _opt(parent: etree._Element, path: str) -> str | None:
    """An optional element's text; None when the element is absent."""
    found = parent.find(_q(path))
    return None if found is None else (found.text or "")


def _text(parent: etree._Element, path: str) -> str:
    """A required element's text (the schema has checked it is there)."""
    return _opt(parent, path) or ""


def _date(value: str) -> date:
    return date.fromisoformat(value.replace("/", "-"))  # yyyy/MM/dd


def _stamped(value: str) -> datetime:
    return datetime.strptime(value, TIMESTAMP).replace(tzinfo=VN)


def _read_organ(element: etree._Element) -> Organ:
    return Organ(
        id=_text(element, "OrganId"),
        name=_text(element, "OrganName"),
        in_charge=_text(element, "OrganizationInCharge"),
        address=_text(element, "OrganAdd"),
        email=_text(element, "Email"),
        telephone=_text(element, "Telephone"),
        fax=_text(element, "Fax"),
        website=_text(element, "Website"),
    )


def _read_staff(element: etree._Element) -> Staff:
    return Staff(
        department=_text(element, "Department"),
        name=_text(element, "Staff"),
        email=_text(element, "Email"),
        mobile=_text(element, "Mobile"),
    )


def _read_ref(element: etree._Element) -> DocumentRef:
    return DocumentRef(
        organ_id=_text(element, "OrganId"),
        code=_text(element, "Code"),
        promulgated_on=_date(_text(element, "PromulgationDate")),
        document_id=_text(element, "DocumentId"),
    )


def _check(root: etree._Element) -> None:
    if not SCHEMA.validate(root):
        errors = SCHEMA.error_log.filter_from_errors()
        where = f"line {errors[0].line}: {errors[0].message}" if errors else "schema validation failed"
        raise EdxmlError(f"malformed: not valid edXML: {where}")


def parse(raw: bytes, verifier: Verifier | None = None) -> Document | StatusMessage:
    """The envelope's content; EdxmlError names what is wrong.

    With a verifier, an XML-DSig signature present must be valid and from a trusted certificate
    (its subject comes back in `signed_by`) and only the signed content is read. Whether a
    message must be signed at all is the caller's rule (signed_by None: not signed)."""
    if len(raw) > MAX_BYTES:
        raise EdxmlError(f"malformed: envelope larger than {MAX_BYTES} bytes")
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise EdxmlError(f"malformed: not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise EdxmlError("malformed: a DOCTYPE is not allowed in edXML")
    _check(root)
    signed_by = None
    header = root.find(_q("edXMLEnvelope/edXMLHeader"))
    # A Signature in the edXML namespace (the SDK sample's shape) cannot be verified: it counts as none.
    if header.find(f"{{{DSIG}}}Signature") is not None and verifier is not None:
        try:
            root, signed_by = verifier.verify(raw)
        except SignatureRefused as exc:
            raise EdxmlError(str(exc)) from exc
        if root.tag != f"{{{NS}}}edXML":
            raise EdxmlError("bad signature: it must cover the whole edXML document, not a part of it")
        _check(root)
    return _read(root, signed_by)


def _read(root: etree._Element, signed_by: str | None) -> Document | StatusMessage:
    h = root.find(_q("edXMLEnvelope/edXMLHeader/MessageHeader"))
    sender = _read_organ(h.find(_q("From")))
    if h.find(_q("StatusCode")) is not None:  # a status message
        code = _text(h, "StatusCode")
        if code not in STATUS_CODES:
            known = ", ".join(f"{c} {n}" for c, n in STATUS_CODES.items())
            raise EdxmlError(f"unknown status code {code}: not one of the axis's codes ({known})")
        return StatusMessage(
            sender=sender,
            response_for=_read_ref(h.find(_q("ResponseFor"))),
            staff=_read_staff(h.find(_q("StaffInfo"))),
            code=code,
            description=_text(h, "Description"),
            timestamp=_stamped(_text(h, "Timestamp")),
            signed_by=signed_by,
        )
    return _read_document(root, h, sender, signed_by)


def _read_document(root: etree._Element, h: etree._Element, sender: Organ, signed_by: str | None) -> Document:
    signer = None
    if h.find(_q("SignerInfo")) is not None:
        signer = Signer(
            competence=_text(h, "SignerInfo/Competence"),
            position=_text(h, "SignerInfo/Position"),
            full_name=_text(h, "SignerInfo/FullName"),
        )
    traces_element = root.find(_q("edXMLEnvelope/edXMLHeader/TraceHeaderList"))
    traces, business = [], None
    if traces_element is not None:
        for t in traces_element.findall(_q("TraceHeader")):
            traces.append(Trace(_text(t, "OrganId"), _stamped(_text(t, "Timestamp"))))
        b = traces_element.find(_q("Bussiness"))
        if b is not None:
            business = Business(
                doc_type=int(_text(b, "BussinessDocType")),
                reason=_text(b, "BussinessDocReason"),
                paper=int(_text(b, "Paper")),
                document_id=_opt(b, "DocumentId"),
                staff=tuple(_read_staff(s) for s in b.findall(_q("StaffInfo"))),
            )
    direction = _opt(h, "OtherInfo/Direction")
    steering = _opt(h, "SteeringType")
    due = _opt(h, "DueDate")
    return Document(
        sender=sender,
        receivers=tuple(_read_organ(t) for t in h.findall(_q("To"))),
        number=_text(h, "Code/CodeNumber"),
        notation=_text(h, "Code/CodeNotation"),
        place=_text(h, "PromulgationInfo/Place"),
        promulgated_on=_date(_text(h, "PromulgationInfo/PromulgationDate")),
        type=DocumentType(
            int(_text(h, "DocumentType/Type")),
            int(_text(h, "DocumentType/TypeDetail")),
            _text(h, "DocumentType/TypeName"),
        ),
        subject=_text(h, "Subject"),
        content=_text(h, "Content"),
        signer=signer,
        due_on=None if due is None else _date(due),
        priority=int(_text(h, "OtherInfo/Priority")),
        sphere=_text(h, "OtherInfo/SphereOfPromulgation"),
        typer_notation=_text(h, "OtherInfo/TyperNotation"),
        promulgation_amount=int(_text(h, "OtherInfo/PromulgationAmount")),
        page_amount=int(_text(h, "OtherInfo/PageAmount")),
        direction=None if direction is None else direction.strip() in ("true", "1"),
        appendixes=tuple(a.text or "" for a in h.findall(_q("OtherInfo/Appendixes/Appendix"))),
        response_for=tuple(_read_ref(r) for r in h.findall(_q("ResponseFor"))),
        steering_type=None if steering is None else int(steering),
        to_places=tuple(p.text or "" for p in h.findall(_q("ToPlaces/Place"))),
        traces=tuple(traces),
        business=business,
        attachments=_attachments(root),
        document_id=_text(h, "DocumentId"),
        signed_by=signed_by,
    )


def _attachments(root: etree._Element) -> tuple[Attachment, ...]:
    """The files in AttachmentEncoded, each listed by its cid: in the manifest (and only those)."""
    listed = list(root.iterfind(_q("edXMLEnvelope/edXMLBody/edXMLManifest/Reference")))
    carried = {_text(a, "ContentId"): a for a in root.iterfind(_q("AttachmentEncoded/Attachment"))}
    wanted = [_text(r, "ContentId") for r in listed]
    if sorted(wanted) != sorted(carried) or len(set(wanted)) != len(wanted):
        raise EdxmlError(
            f"malformed: the manifest lists {wanted or 'no file'} but AttachmentEncoded carries "
            f"{sorted(carried) or 'no file'}"
        )
    files = []
    for cid in wanted:
        a = carried[cid]
        try:
            data = base64.b64decode(_text(a, "ContentTransferEncoded"), validate=False)
        except ValueError as exc:
            raise EdxmlError(f"malformed: attachment {cid} is not base64") from exc
        files.append(
            Attachment(
                name=_text(a, "AttachmentName"),
                content_type=_text(a, "ContentType"),
                data=data,
                description=_text(a, "Description"),
            )
        )
    return tuple(files)
