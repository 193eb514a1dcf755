"""The document office (văn thư) of each unit: takes signing requests, numbers and issues documents.

Each accepted request gets a timeline: received at once, assigned to an official after a delay,
then issued (numbered per unit and year, e.g. 123/QĐ-UBND, signed, with the signed file) or
returned for changes / refused. Each step is an edXML message that becomes visible to the
requesting system at its time; it stays there until acknowledged (the connector polls).
"""

from __future__ import annotations

import random
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.docsys_simulator.edxml import Document, Signer, StatusMessage, build_document, build_status
from shared.units import UnitTree

VN = ZoneInfo("Asia/Ho_Chi_Minh")
SIGNERS = ["Nguyễn Văn Hùng", "Trần Thị Thu Hà", "Lê Quang Vinh", "Phạm Thị Ngọc Ánh", "Hoàng Đức Thắng",
           "Đỗ Thị Hương", "Vũ Mạnh Cường", "Bùi Thị Lệ Quyên"]


@dataclass
class Message:
    id: int
    recipient: str  # OrganId of the system that polls for it
    visible_at: float  # monotonic time
    kind: str  # document | status
    xml: bytes
    acked: bool = False


@dataclass
class Request:
    request: Document
    fate: str  # issued | returned | refused
    state: str = "received"
    rounds: int = 1
    code: str | None = None  # "123/QĐ-UBND" once issued
    issued: list[int] = field(default_factory=list)  # ids of its messages


def notation_suffix(units: UnitTree, code: str) -> str:
    """UBND for a commune or the province, else the department's initials (Sở Xây dựng → SXD)."""
    unit = units.units.get(code)
    if unit is None or unit.level == "COMMUNE" or code.count(".") == 0:
        return "UBND"
    name = unit.name.split(" - ")[0].replace("Đ", "D").replace("đ", "d")
    plain = unicodedata.normalize("NFD", name).encode("ascii", "ignore").decode()
    return "".join(w[0] for w in plain.split() if w[:1].isalpha()).upper()


class Desk:
    def __init__(self, units: UnitTree, *, delay: tuple[float, float], rng: random.Random | None = None,
                 clock=time.monotonic):
        self.units, self.delay, self._rng, self._clock = units, delay, rng or random.Random(), clock
        self.requests: dict[tuple[str, str], Request] = {}  # (sender OrganId, DocumentId)
        self.numbers: dict[tuple[str, int], int] = {}  # (unit, year) -> last number issued
        self.messages: dict[int, Message] = {}
        self.planned: dict[str, str] = {}  # DocumentId -> fate for its next round (admin)
        self.ratios = {"returned": 0.0, "refused": 0.0}

    def accept(self, doc: Document) -> tuple[bool, Request]:
        """Take a signing request; (new?, its record). A re-send of a live request changes nothing;
        a re-send of a returned one starts a new round."""
        key = (doc.sender.id, doc.document_id)
        held = self.requests.get(key)
        if held is not None and held.state != "returned":
            return False, held
        request = Request(doc, self._fate(doc.document_id))
        if held is not None:
            request.rounds = held.rounds + 1
        self.requests[key] = request
        self._schedule(request)
        return True, request

    def _fate(self, document_id: str) -> str:
        if document_id in self.planned:
            return self.planned.pop(document_id)
        dice = self._rng.random()
        if dice < self.ratios["refused"]:
            return "refused"
        return "returned" if dice < self.ratios["refused"] + self.ratios["returned"] else "issued"

    def _schedule(self, r: Request) -> None:
        now = self._clock()
        at = [now, now + self._rng.uniform(*self.delay)]
        at.append(at[1] + self._rng.uniform(*self.delay))
        self._status(r, "received", "Văn thư đã tiếp nhận dự thảo", at[0])
        self._status(r, "assigned", "Đã phân công chuyên viên xử lý, trình ký", at[1])
        if r.fate == "returned":
            self._status(r, "returned", "Trả lại để chỉnh sửa: đề nghị bổ sung căn cứ pháp lý", at[2])
        elif r.fate == "refused":
            self._status(r, "refused", "Từ chối ban hành: hồ sơ không đủ điều kiện", at[2])
        else:
            self._post(r, "document", build_document(self._issue(r)), at[2])
            self._status(r, "done", "Đã ký số, ban hành", at[2])
        r.state = r.fate

    def _issue(self, r: Request) -> Document:
        doc = r.request
        today = datetime.now(VN).date()
        number = self.numbers.get((doc.receiver.id, today.year), 0) + 1
        self.numbers[(doc.receiver.id, today.year)] = number
        notation = f"{doc.type}-{notation_suffix(self.units, doc.receiver.id)}"
        r.code = f"{number}/{notation}"
        commune = notation.endswith("UBND")
        signer = Signer(full_name=self._rng.choice(SIGNERS), position="Chủ tịch" if commune else "Giám đốc",
                        competence="TM. Ủy ban nhân dân" if commune else "Giám đốc")
        signed = [a.__class__(a.name, a.content_type, a.data + f"\n\nĐã ký: {signer.full_name}".encode())
                  for a in doc.attachments]
        return Document(
            sender=doc.receiver, receiver=doc.sender, document_id=f"{doc.receiver.id},{today.year},{r.code}",
            type=doc.type, type_name=doc.type_name, subject=doc.subject, content=doc.content,
            code_number=str(number), code_notation=notation, place="Phú Thọ", promulgated_on=today,
            signer=signer, priority=doc.priority, page_amount=doc.page_amount,
            response_for=(doc.sender.id, doc.document_id), attachments=tuple(signed),
        )

    def _status(self, r: Request, status: str, description: str, at: float) -> None:
        doc = r.request
        stamp = datetime.now(VN) + timedelta(seconds=at - self._clock())
        msg = StatusMessage(sender=doc.receiver, receiver=doc.sender, response_for=(doc.sender.id, doc.document_id),
                            status=status, description=description, timestamp=stamp.replace(microsecond=0))
        self._post(r, "status", build_status(msg), at)

    def _post(self, r: Request, kind: str, xml: bytes, at: float) -> int:
        message = Message(len(self.messages) + 1, r.request.sender.id, at, kind, xml)
        self.messages[message.id] = message
        r.issued.append(message.id)
        return message.id

    def inject(self, recipient: str, xml: bytes) -> int:
        """Put any envelope, even a broken one, in a recipient's queue (tests of the connector)."""
        message = Message(len(self.messages) + 1, recipient, self._clock(), "injected", xml)
        self.messages[message.id] = message
        return message.id

    def pending(self, recipient: str, limit: int) -> list[Message]:
        now = self._clock()
        due = [m for m in self.messages.values() if m.recipient == recipient and not m.acked and m.visible_at <= now]
        return sorted(due, key=lambda m: (m.visible_at, m.id))[:limit]
