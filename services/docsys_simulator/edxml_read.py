"""Reading an edXML envelope: parse safely, validate against the XSD, map to the dataclasses."""

from __future__ import annotations

import base64
from datetime import date, datetime

from lxml import etree

from services.docsys_simulator.edxml import (
    NS, SCHEMA, STATUS_NAMES, Attachment, Document, EdxmlError, Organ, Signer, StatusMessage,
)

# No entities, no network, no DTDs: an envelope from outside cannot make us fetch or expand anything.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
MAX_BYTES = 20 * 1024 * 1024


def _text(parent: etree._Element, path: str) -> str | None:
    found = parent.find("/".join(f"{{{NS}}}{p}" for p in path.split("/")))
    return None if found is None else (found.text or "")


def _organ(parent: etree._Element, name: str) -> Organ:
    return Organ(_text(parent, f"{name}/OrganId"), _text(parent, f"{name}/OrganName"))


def _ref(parent: etree._Element) -> tuple[str, str] | None:
    organ = _text(parent, "ResponseFor/OrganId")
    return None if organ is None else (organ, _text(parent, "ResponseFor/DocumentId"))


def parse(raw: bytes) -> Document | StatusMessage:
    """The envelope's content; EdxmlError names what is wrong (not XML, not valid edXML)."""
    if len(raw) > MAX_BYTES:
        raise EdxmlError(f"malformed: envelope larger than {MAX_BYTES} bytes")
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise EdxmlError(f"malformed: not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise EdxmlError("malformed: a DOCTYPE is not allowed in edXML")
    if not SCHEMA.validate(root):
        first = SCHEMA.error_log.filter_from_errors()[0] if SCHEMA.error_log.filter_from_errors() else None
        where = f"line {first.line}: {first.message}" if first else "schema validation failed"
        raise EdxmlError(f"malformed: not valid edXML: {where}")
    header = root.find(f"{{{NS}}}edXMLHeader")[0]
    if etree.QName(header).localname == "Status":
        return StatusMessage(
            sender=_organ(header, "From"), receiver=_organ(header, "To"), response_for=_ref(header),
            status=STATUS_NAMES.get(_text(header, "StatusCode"), "processing"),
            description=_text(header, "Description"),
            timestamp=datetime.fromisoformat(_text(header, "Timestamp")),
        )
    return _document(header, root.find(f"{{{NS}}}edXMLBody"))


def _document(h: etree._Element, body: etree._Element) -> Document:
    promulgated = _text(h, "PromulgationInfo/PromulgationDate")
    signer = None
    if h.find(f"{{{NS}}}SignerInfo") is not None:
        signer = Signer(full_name=_text(h, "SignerInfo/FullName"), position=_text(h, "SignerInfo/Position"),
                        competence=_text(h, "SignerInfo/Competence"))
    attachments = tuple(
        Attachment(_text(a, "AttachmentName"), _text(a, "ContentType"), base64.b64decode(_text(a, "Content")))
        for a in body.findall(f"{{{NS}}}Attachment")
    )
    return Document(
        sender=_organ(h, "From"), receiver=_organ(h, "To"), document_id=_text(h, "DocumentId"),
        type=_text(h, "DocumentType/Type"), type_name=_text(h, "DocumentType/TypeName"),
        subject=_text(h, "Subject"), content=_text(h, "Content"),
        code_number=_text(h, "Code/CodeNumber"), code_notation=_text(h, "Code/CodeNotation"),
        place=_text(h, "PromulgationInfo/Place"),
        promulgated_on=date.fromisoformat(promulgated) if promulgated else None,
        signer=signer, priority=int(_text(h, "OtherInfo/Priority")),
        page_amount=int(_text(h, "OtherInfo/PageAmount")), response_for=_ref(h), attachments=attachments,
    )
