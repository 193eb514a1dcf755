"""edXML envelopes: the axis's shape element by element, formats, signatures, broken ones refused."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree

from services.sync.documents.edxml import (
    NS,
    SCHEMA,
    STATUS_CODES,
    Attachment,
    Business,
    Document,
    DocumentRef,
    DocumentType,
    EdxmlError,
    Organ,
    Signer,
    Staff,
    StatusMessage,
    Trace,
    build_document,
    build_status,
    parse,
)
from services.sync.documents.signing import load_signing_key

VN = ZoneInfo("Asia/Ho_Chi_Minh")
FIXTURE = Path(__file__).with_name("fixtures") / "sdk_shape.edxml"
SUBJECT = "Cấp giấy phép xây dựng nhà ở riêng lẻ cho ông Nguyễn Văn Ấn, phường Việt Trì — “Ủy ban”"
UNIT = Organ(
    "000.00.30.H44",
    "UBND Phường Việt Trì",
    "UBND tỉnh Phú Thọ",
    "Tỉnh Phú Thọ",
    "vt@example.invalid",
    "0210 1",
    "0210 2",
    "phutho.gov.vn",
)
SYSTEM = Organ("000.00.00.H44", "Hệ thống thông tin giải quyết TTHC tỉnh Phú Thọ", "UBND tỉnh Phú Thọ")
REQUEST = DocumentRef(
    "000.00.00.H44",
    "H44.100-260815-0042/PTr-HCC",
    date(2026, 8, 15),
    "000.00.00.H44,2026/08/15,H44.100-260815-0042/PTr-HCC",
)
CLERK = Staff("Văn thư", "Nguyễn Thị Thanh Huyền", "vanthu@example.invalid", "0900000000")
ISSUED = Document(
    sender=UNIT,
    receivers=(SYSTEM,),
    number="123",
    notation="QĐ-UBND",
    place="Phú Thọ",
    promulgated_on=date(2026, 8, 15),
    type=DocumentType(2, 0, "Quyết định"),
    subject=SUBJECT,
    content="Điều 1. Cấp phép…\nĐiều 2. Hiệu lực.",
    signer=Signer("TM. Ủy ban nhân dân", "Chủ tịch", "Phạm Thị Ngọc Ánh"),
    due_on=date(2026, 8, 20),
    priority=1,
    sphere="Liên thông văn bản quốc gia",
    typer_notation="NTH",
    promulgation_amount=2,
    page_amount=2,
    direction=False,
    appendixes=("Bản vẽ",),
    response_for=(REQUEST,),
    steering_type=1,
    to_places=("Như Điều 3", "Lưu: VT"),
    traces=(Trace(UNIT.id, datetime(2026, 8, 15, 9, 30, tzinfo=VN)),),
    business=Business(document_id=None, staff=(CLERK,)),
    attachments=(
        Attachment(
            "quyet-dinh.pdf", "application/pdf", "Quyết định số 123".encode() + bytes(range(256)), "Quyết định đã ký số"
        ),
    ),
)
STATUS = StatusMessage(
    sender=UNIT,
    response_for=REQUEST,
    staff=CLERK,
    code="05",
    description="Đã phân công, trình ký",
    timestamp=datetime(2026, 8, 15, 9, 30, 5, tzinfo=VN),
)

# docs/domain.md §10 and docs/documents.md: each element's children, in the axis's order.
DOCUMENT_SHAPE = {
    "edXML": ["edXMLEnvelope", "AttachmentEncoded"],
    "edXMLEnvelope": ["edXMLHeader", "edXMLBody"],
    "edXMLHeader": ["MessageHeader", "TraceHeaderList", "Signature"],
    "MessageHeader": [
        "From",
        "To",
        "DocumentId",
        "Code",
        "PromulgationInfo",
        "DocumentType",
        "Subject",
        "Content",
        "SignerInfo",
        "DueDate",
        "OtherInfo",
        "ResponseFor",
        "SteeringType",
        "ToPlaces",
    ],
    "From": ["OrganId", "OrganizationInCharge", "OrganName", "OrganAdd", "Email", "Telephone", "Fax", "Website"],
    "To": ["OrganId", "OrganizationInCharge", "OrganName", "OrganAdd", "Email", "Telephone", "Fax", "Website"],
    "Code": ["CodeNumber", "CodeNotation"],
    "PromulgationInfo": ["Place", "PromulgationDate"],
    "DocumentType": ["Type", "TypeDetail", "TypeName"],
    "SignerInfo": ["Competence", "Position", "FullName"],
    "OtherInfo": [
        "Priority",
        "SphereOfPromulgation",
        "TyperNotation",
        "PromulgationAmount",
        "PageAmount",
        "Direction",
        "Appendixes",
    ],
    "Appendixes": ["Appendix"],
    "ResponseFor": ["OrganId", "Code", "PromulgationDate", "DocumentId"],
    "ToPlaces": ["Place"],
    "TraceHeaderList": ["TraceHeader", "Bussiness"],
    "TraceHeader": ["OrganId", "Timestamp"],
    "Bussiness": ["BussinessDocType", "BussinessDocReason", "Paper", "StaffInfo"],
    "StaffInfo": ["Department", "Staff", "Email", "Mobile"],
    "edXMLBody": ["edXMLManifest"],
    "edXMLManifest": ["Reference"],
    "Reference": ["ContentId", "ContentType", "Description", "AttachmentName"],
    "AttachmentEncoded": ["Attachment"],
    "Attachment": ["ContentId", "AttachmentName", "Description", "ContentType", "ContentTransferEncoded"],
}
STATUS_SHAPE = {
    "edXML": ["edXMLEnvelope"],
    "edXMLEnvelope": ["edXMLHeader"],
    "edXMLHeader": ["MessageHeader", "Signature"],
    "MessageHeader": ["From", "ResponseFor", "StaffInfo", "StatusCode", "Description", "Timestamp"],
    "From": DOCUMENT_SHAPE["From"],
    "ResponseFor": DOCUMENT_SHAPE["ResponseFor"],
    "StaffInfo": DOCUMENT_SHAPE["StaffInfo"],
}
FORMATS = {  # the axis's formats, by element (docs/documents.md)
    "OrganId": r"\d{3}\.\d{2}\.\d{2}\.H44",
    "DocumentId": r"\d{3}\.\d{2}\.\d{2}\.H44,\d{4}/\d{2}/\d{2},[^,/]+/[^,]+",
    "PromulgationDate": r"\d{4}/\d{2}/\d{2}",
    "DueDate": r"\d{4}/\d{2}/\d{2}",
    "Timestamp": r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}",
    "Type": r"\d+",
    "TypeDetail": r"\d+",
    "StatusCode": r"\d{2}",
    "ContentId": r"cid:\S+",
}


def walk(xml: bytes, shape: dict[str, list[str]]) -> list[str]:
    """Every difference between the envelope and the expected shape and formats."""
    problems = []
    root = etree.fromstring(xml)
    for element in root.iter():
        name = etree.QName(element).localname
        children = [etree.QName(c).localname for c in element]
        children = [c for i, c in enumerate(children) if i == 0 or children[i - 1] != c]  # repeated ones once
        namespace = etree.QName(element).namespace
        parent = element.getparent()
        inside = etree.QName(parent).localname if parent is not None else ""
        # ResponseFor/Code is a leaf (Number/Notation); the XML-DSig elements are signxml's
        if name in shape and namespace == NS and inside != "ResponseFor" and children != shape[name]:
            problems.append(f"{name}: {children} != {shape[name]}")
        if namespace != NS and name != "Signature" and namespace != "http://www.w3.org/2000/09/xmldsig#":
            problems.append(f"{name} in namespace {namespace}")
        if name in FORMATS and not element.getchildren() and not re.fullmatch(FORMATS[name], element.text or ""):
            problems.append(f"{name}: {element.text!r} is not {FORMATS[name]}")
    return problems


def test_a_document_has_every_element_of_the_axis_in_order_with_its_formats(docsys_key):
    assert walk(build_document(ISSUED, docsys_key), DOCUMENT_SHAPE) == []
    assert walk(build_status(STATUS, docsys_key), DOCUMENT_SHAPE)  # the walk does see a different shape
    assert ISSUED.document_id == "000.00.30.H44,2026/08/15,123/QĐ-UBND"


def test_a_status_message_has_every_element_of_the_axis_in_order(docsys_key):
    assert walk(build_status(STATUS, docsys_key), STATUS_SHAPE) == []


def test_the_status_code_table_is_the_axis_s():
    assert STATUS_CODES == {
        "01": "Đã đến",
        "02": "Từ chối tiếp nhận",
        "03": "Đã tiếp nhận",
        "04": "Đã đến, đang chờ phân công",
        "05": "Đã phân công, đang xử lý",
        "06": "Đã xử lý xong",
        "13": "Thu hồi văn bản",
        "15": "Đồng ý thu hồi/cập nhật văn bản",
        "16": "Từ chối thu hồi/cập nhật văn bản",
    }


def test_a_fixture_shaped_like_the_sdk_sample_validates_and_reads():
    doc = parse(FIXTURE.read_bytes())
    assert doc.document_id == "000.00.07.H44,2026/08/15,41/QĐ-SCT" and doc.code == "41/QĐ-SCT"
    assert doc.type == DocumentType(2, 0, "Quyết định") and doc.signer.full_name == "Đỗ Thị Hương"
    assert doc.attachments[0].data.decode() == "Quyết định số 41/QĐ-SCT" and doc.to_places == ("Như Điều 3", "Lưu: VT")
    assert doc.signed_by is None  # the SDK's Signature shape is read, never trusted


def test_the_old_shape_does_not_validate():
    old = (
        f'<edXML:edXMLEnvelope xmlns:edXML="{NS}"><edXML:edXMLHeader><edXML:Status>'
        "<edXML:ResponseFor><edXML:OrganId>H44</edXML:OrganId><edXML:DocumentId>H44.100-260815-0042</edXML:DocumentId>"
        "</edXML:ResponseFor><edXML:StatusCode>03</edXML:StatusCode><edXML:Description>x</edXML:Description>"
        "<edXML:Timestamp>2026-08-15T09:30:00+07:00</edXML:Timestamp></edXML:Status></edXML:edXMLHeader>"
        "<edXML:edXMLBody/></edXML:edXMLEnvelope>"
    ).encode()
    assert not SCHEMA.validate(etree.fromstring(old))
    with pytest.raises(EdxmlError, match="not valid edXML"):
        parse(old)


def test_a_signed_document_and_status_round_trip_field_for_field(docsys_key, verifier):
    doc = parse(build_document(ISSUED, docsys_key), verifier)
    assert doc == ISSUED and "Hệ thống quản lý văn bản" in doc.signed_by
    assert parse(build_status(STATUS, docsys_key), verifier) == STATUS
    assert parse(build_document(ISSUED)) == ISSUED  # unsigned is readable; the caller decides if it may be


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_vietnamese_text_round_trips_byte_for_byte_in_either_normal_form(form, docsys_key, verifier):
    subject = unicodedata.normalize(form, SUBJECT)
    signer = Signer("TM. Ủy ban nhân dân", "Chủ tịch", unicodedata.normalize(form, "Phạm Thị Ngọc Ánh"))
    back = parse(build_document(replace(ISSUED, subject=subject, signer=signer), docsys_key), verifier)
    assert back.subject.encode() == subject.encode() and back.signer.full_name.encode() == signer.full_name.encode()
    assert (form == "NFD") == (back.subject != unicodedata.normalize("NFC", SUBJECT))


def test_a_tampered_document_is_refused(docsys_key, verifier):
    signed = build_document(ISSUED, docsys_key)
    one_byte = signed.replace("Cấp giấy phép".encode(), "Cấp giấy phéq".encode(), 1)
    assert len(one_byte) == len(signed) and one_byte != signed
    with pytest.raises(EdxmlError, match="tampered"):
        parse(one_byte, verifier)


def test_a_document_signed_by_an_untrusted_certificate_is_refused(pki, verifier):
    with pytest.raises(EdxmlError, match="untrusted signer"):
        parse(build_document(ISSUED, pki["stranger"]), verifier)


def test_the_sdk_signature_shape_counts_as_no_signature(verifier):
    assert parse(FIXTURE.read_bytes(), verifier).signed_by is None


def test_a_pkcs12_key_signs_like_the_pem_one(tmp_path, docsys_key, verifier):
    p12 = tmp_path / "docsys.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"docsys",
            docsys_key.key,
            docsys_key.chain[0],
            None,
            serialization.BestAvailableEncryption("mật khẩu".encode()),
        )
    )
    key = load_signing_key(p12, password="mật khẩu")
    assert (
        parse(build_document(ISSUED, key), verifier).signed_by
        == parse(build_document(ISSUED, docsys_key), verifier).signed_by
    )


def test_an_unknown_status_code_is_refused_with_its_reason():
    raw = build_status(STATUS).replace(b"<StatusCode>05<", b"<StatusCode>07<")
    with pytest.raises(EdxmlError, match="unknown status code 07"):
        parse(raw)


@pytest.mark.parametrize(
    "mangle, reason",
    [
        (lambda x: x[:-30], "not well-formed"),
        (lambda x: b"<?xml version='1.0'?><a/>", "not valid edXML"),
        (lambda x: x.replace(b"<OrganId>000.00.30.H44<", b"<OrganId>H44.100<", 1), "not valid edXML"),
        (lambda x: x.replace(b"2026/08/15<", b"2026-08-15<", 1), "not valid edXML"),
        (lambda x: x.replace(b"<Type>2<", b"<Type>QD<"), "not valid edXML"),
        (lambda x: x.replace(b"<Subject>", b"<Unknown>x</Unknown><Subject>"), "not valid edXML"),
        (
            lambda x: x.replace(
                b"<ContentId>cid:1</ContentId><AttachmentName>", b"<ContentId>cid:2</ContentId><AttachmentName>"
            ),
            "manifest lists",
        ),
        (lambda x: b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + x.split(b"?>", 1)[1], "DOCTYPE"),
    ],
)
def test_broken_envelopes_are_refused_with_a_reason(mangle, reason):
    with pytest.raises(EdxmlError, match=reason):
        parse(mangle(build_document(ISSUED)))
