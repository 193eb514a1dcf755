"""edXML envelopes: built and read back with lxml, validated against the XSD, broken ones refused."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.docsys_simulator.edxml import (
    Attachment, Document, EdxmlError, Organ, Signer, StatusMessage, build_document, build_status,
)
from services.docsys_simulator.edxml_read import parse

SUBJECT = "Cấp giấy phép xây dựng nhà ở riêng lẻ cho ông Nguyễn Văn Ấn, xã Hùng Lô — “Ủy ban”"
ISSUED = Document(
    sender=Organ("H44.100", "UBND xã Hùng Lô"), receiver=Organ("H44", "Hệ thống giải quyết TTHC tỉnh Phú Thọ"),
    document_id="H44.100,2026,123/QĐ-UBND", type="QĐ", type_name="Quyết định", subject=SUBJECT,
    content="Điều 1. Cấp phép…\nĐiều 2. Hiệu lực.", code_number="123", code_notation="QĐ-UBND", place="Phú Thọ",
    promulgated_on=date(2026, 8, 15), signer=Signer("Phạm Thị Ngọc Ánh", "Chủ tịch", "TM. Ủy ban nhân dân"),
    priority=1, page_amount=2, response_for=("H44", "H44.100-260815-0042"),
    attachments=(Attachment("quyet-dinh.pdf", "application/pdf", "Quyết định số 123".encode() + bytes(range(256))),),
)


def test_an_issued_document_round_trips_field_for_field():
    assert parse(build_document(ISSUED)) == ISSUED


def test_vietnamese_text_round_trips_byte_for_byte_in_either_normal_form():
    for form in ("NFC", "NFD"):
        subject = unicodedata.normalize(form, SUBJECT)
        back = parse(build_document(replace(ISSUED, subject=subject)))
        assert back.subject.encode() == subject.encode()


def test_a_status_message_round_trips():
    msg = StatusMessage(sender=ISSUED.sender, receiver=ISSUED.receiver, response_for=("H44", "H44.100-260815-0042"),
                        status="returned", description="Trả lại để chỉnh sửa",
                        timestamp=datetime(2026, 8, 15, 9, 30, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    assert parse(build_status(msg)) == msg


@pytest.mark.parametrize("mangle, reason", [
    (lambda x: x[:-30], "not well-formed"),
    (lambda x: b"<?xml version='1.0'?><a/>", "not valid edXML"),
    (lambda x: x.replace(b"<edXML:OrganId>H44.100<", b"<edXML:OrganId>X-100<"), "not valid edXML"),
    (lambda x: x.replace(b"2026-08-15<", b"15/08/2026<"), "not valid edXML"),
    (lambda x: x.replace(b"<edXML:CodeNumber>123", b"<edXML:CodeNumber>12a"), "not valid edXML"),
    (lambda x: x.replace(b"<edXML:Subject>", b"<edXML:Unknown>x</edXML:Unknown><edXML:Subject>"), "not valid edXML"),
    (lambda x: b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + x.split(b"?>", 1)[1], "DOCTYPE"),
])
def test_broken_envelopes_are_refused_with_a_reason(mangle, reason):
    with pytest.raises(EdxmlError, match=reason):
        parse(mangle(build_document(ISSUED)))
