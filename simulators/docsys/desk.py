"""The document office (văn thư) of each unit: takes signing requests, numbers and issues documents.

Each accepted request gets a timeline of edXML status messages (StatusCode as on the axis):
03 accepted at once (its 01 "arrived" is skipped: the office takes it in at once; one message less
per request to poll), 05 assigned and being processed after a delay, then either
the issued document (numbered per unit and year, e.g. 123/QĐ-UBND, signed, with the signed file)
and 06 finished, or 02 refused (also how a draft sent back for changes is answered). An issued
document may later be recalled: 13, then 15 (agreed: it no longer stands) or 16 (refused). Each
message becomes visible to the requesting system at its time and stays there until acknowledged
(the connector polls). The codec and the schema are the sync connector's (the contract lives in
the service that talks to the real system).
"""

from __future__ import annotations

import random
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.sync.documents import edxml
from services.sync.documents.edxml import (
    Attachment,
    Business,
    Document,
    Signer,
    Staff,
    StatusMessage,
    Trace,
    build_document,
    build_status,
)
from services.sync.documents.organs import organ
from services.sync.documents.request import DECISION_TYPE
from services.sync.documents.signing import SigningKey
from shared.units import UnitTree

VN = ZoneInfo("Asia/Ho_Chi_Minh")
SIGNERS = [
    "Nguyễn Văn Hùng",
    "Trần Thị Thu Hà",
    "Lê Quang Vinh",
    "Phạm Thị Ngọc Ánh",
    "Hoàng Đức Thắng",
    "Đỗ Thị Hương",
    "Vũ Mạnh Cường",
    "Bùi Thị Lệ Quyên",
]
CLERK = Staff(department="Văn thư", name="Nguyễn Thị Thanh Huyền")
AGAIN = ("refused", "recalled")  # a request in these states may be sent again: a new round


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
    unit: str  # the receiving unit's internal code
    fate: str  # issued | returned | refused
    state: str = "accepted"
    rounds: int = 1
    issued: Document | None = None
    messages: list[int] = field(default_factory=list)

    @property
    def code(self) -> str | None:
        return self.issued.code if self.issued else None


def notation_suffix(units: UnitTree, code: str) -> str:
    """UBND for a commune or the province, else the department's initials (Sở Xây dựng → SXD)."""
    unit = units.units.get(code)
    if unit is None or unit.level == "COMMUNE" or code.count(".") == 0:
        return "UBND"
    name = unit.name.split(" - ")[0].replace("Đ", "D").replace("đ", "d")
    plain = unicodedata.normalize("NFD", name).encode("ascii", "ignore").decode()
    return "".join(w[0] for w in plain.split() if w[:1].isalpha()).upper()


class Desk:
    def __init__(
        self,
        units: UnitTree,
        *,
        delay: tuple[float, float],
        rng: random.Random | None = None,
        clock=time.monotonic,
        key: SigningKey | None = None,
    ):
        self.units, self.delay, self._rng, self._clock, self.key = units, delay, rng or random.Random(), clock, key
        self.requests: dict[tuple[str, str], Request] = {}  # (sender OrganId, Number/Notation)
        self.numbers: dict[tuple[str, int], int] = {}  # (unit, year) -> last number issued
        self.messages: dict[int, Message] = {}
        self.planned: dict[str, str] = {}  # request number (the dossier code) -> fate of its next round
        self.ratios = {"returned": 0.0, "refused": 0.0}

    def accept(self, doc: Document, unit: str) -> tuple[bool, Request]:
        """Take a signing request for `unit`; (new?, its record). A re-send of a live request
        changes nothing; a re-send of a refused or recalled one starts a new round."""
        key = (doc.sender.id, doc.code)
        held = self.requests.get(key)
        if held is not None and held.state not in AGAIN:
            return False, held
        request = Request(doc, unit, self._fate(doc.number))
        if held is not None:
            request.rounds = held.rounds + 1
        self.requests[key] = request
        self._schedule(request)
        return True, request

    def _fate(self, number: str) -> str:
        if number in self.planned:
            return self.planned.pop(number)
        dice = self._rng.random()
        if dice < self.ratios["refused"]:
            return "refused"
        return "returned" if dice < self.ratios["refused"] + self.ratios["returned"] else "issued"

    def _schedule(self, r: Request) -> None:
        now = self._clock()
        at = [now, now + self._rng.uniform(*self.delay)]
        at.append(at[1] + self._rng.uniform(*self.delay))
        self._status(r, r.request.ref(), edxml.ACCEPTED, "Văn thư đã tiếp nhận dự thảo", at[0])
        self._status(r, r.request.ref(), edxml.PROCESSING, "Đã phân công chuyên viên xử lý, trình ký", at[1])
        if r.fate == "returned":
            self._status(
                r, r.request.ref(), edxml.REFUSED, "Trả lại để chỉnh sửa: đề nghị bổ sung căn cứ pháp lý", at[2]
            )
            r.state = "refused"
        elif r.fate == "refused":
            self._status(r, r.request.ref(), edxml.REFUSED, "Từ chối ban hành: hồ sơ không đủ điều kiện", at[2])
            r.state = "refused"
        else:
            r.issued = self._issue(r)
            self._post(r, "document", build_document(r.issued, self.key), at[2])
            self._status(r, r.request.ref(), edxml.FINISHED, "Đã ký số, ban hành", at[2])
            r.state = "issued"

    def _issue(self, r: Request) -> Document:
        doc = r.request
        now = datetime.now(VN).replace(microsecond=0)
        number = self.numbers.get((r.unit, now.year), 0) + 1
        self.numbers[(r.unit, now.year)] = number
        notation = f"QĐ-{notation_suffix(self.units, r.unit)}"
        commune = notation.endswith("UBND")
        signer = Signer(
            competence="TM. Ủy ban nhân dân" if commune else "Giám đốc",
            position="Chủ tịch" if commune else "Giám đốc",
            full_name=self._rng.choice(SIGNERS),
        )
        signed = [
            Attachment(
                a.name.replace("du-thao", "quyet-dinh"),
                a.content_type,
                a.data + f"\n\nĐã ký: {signer.full_name}".encode(),
                "Quyết định đã ký số",
            )
            for a in doc.attachments
        ]
        issuer = organ(r.unit)
        return Document(
            sender=issuer,
            receivers=(doc.sender,),
            number=str(number),
            notation=notation,
            place="Phú Thọ",
            promulgated_on=now.date(),
            type=DECISION_TYPE,
            subject=doc.subject,
            content=doc.content,
            signer=signer,
            priority=doc.priority,
            page_amount=doc.page_amount,
            sphere="Liên thông văn bản quốc gia",
            response_for=(doc.ref(),),
            steering_type=1,
            traces=(Trace(issuer.id, now),),
            business=Business(staff=(CLERK,)),
            attachments=tuple(signed),
        )

    def recall(self, document_id: str, agreed: bool) -> Request | None:
        """The issuer recalls a document it issued: 13, then 15 (agreed) or 16 (refused)."""
        r = next((r for r in self.requests.values() if r.issued and r.issued.document_id == document_id), None)
        if r is None or r.issued is None or r.state != "issued":
            return None
        about, now = r.issued.ref(), self._clock()
        self._status(r, about, edxml.RECALL, "Thu hồi văn bản để ban hành lại do sai sót", now)
        if agreed:
            self._status(r, about, edxml.RECALL_AGREED, "Đồng ý thu hồi văn bản", now)
            r.state = "recalled"
        else:
            self._status(r, about, edxml.RECALL_REFUSED, "Từ chối thu hồi văn bản", now)
        return r

    def _status(self, r: Request, about, code: str, description: str, at: float) -> None:
        stamp = datetime.now(VN) + timedelta(seconds=at - self._clock())
        msg = StatusMessage(
            sender=organ(r.unit),
            response_for=about,
            staff=CLERK,
            code=code,
            description=description,
            timestamp=stamp.replace(microsecond=0),
        )
        self._post(r, "status", build_status(msg, self.key), at)

    def _post(self, r: Request, kind: str, xml: bytes, at: float) -> int:
        message = Message(len(self.messages) + 1, r.request.sender.id, at, kind, xml)
        self.messages[message.id] = message
        r.messages.append(message.id)
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
