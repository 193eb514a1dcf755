"""Data schemas of each event type, version 1. Unknown fields are rejected (extra="forbid").

Statuses follow the national portal's TrangThaiHoSo codes (docs/domain.md §3).
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

# ASCII digits only: \d would also admit Arabic-Indic and other Unicode digits.
UNIT_CODE = r"^H[0-9]{2}(\.[0-9]{1,3})*$"
PROCEDURE_CODE = r"^[0-9]\.[0-9]{6}$"  # mã TTHC, e.g. 2.000815

# The one contract of what intake accepts and processing applies (issue 13): whatever passes
# these types is applied or held visibly downstream, never dead-lettered for its shape.
# - Times lie in the years 1900-2100 (read in their own offset, so year 1 at +14:00 cannot
#   overflow a conversion); processing's working-day calendar covers 1800-2199, so deadlines
#   counted from any accepted time stay inside it.
# - No coercion: integers are JSON integers (not "2", not true, not 2.0), booleans are JSON
#   booleans, times are ISO 8601 strings with an offset (not epoch numbers).
# - Fee amounts (VND) are at most MAX_AMOUNT.
YEAR_MIN, YEAR_MAX = 1900, 2100
MAX_AMOUNT = 10**12  # 1,000 billion VND: above any fee or charge of an administrative procedure


# These raise ValueError, not TypeError: pydantic turns only ValueError into a field error.
def _integer(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a JSON integer (not text, a boolean or a decimal)")
    return value


def _time_text(value: object) -> object:
    if not isinstance(value, (str, datetime)):
        raise ValueError("must be an ISO 8601 date-time string with its offset (not a number)")
    return value


def _within_years(value: datetime) -> datetime:
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        raise ValueError(f"must lie between the years {YEAR_MIN} and {YEAR_MAX}")
    return value


Integer = BeforeValidator(_integer)
Moment = Annotated[AwareDatetime, BeforeValidator(_time_text), AfterValidator(_within_years)]
Amount = Annotated[int, Integer, Field(ge=0, le=MAX_AMOUNT, description="VND")]


class Status(IntEnum):
    """TrangThaiHoSo, the portal's ten dossier statuses."""

    SUBMITTED = 1  # Mới đăng ký
    ACCEPTED = 2  # Được tiếp nhận
    REFUSED = 3  # Không được tiếp nhận
    PROCESSING = 4  # Đang xử lý
    SUPPLEMENT_REQUESTED = 5  # Yêu cầu bổ sung giấy tờ
    FEE_REQUESTED = 6  # Yêu cầu thực hiện nghĩa vụ tài chính
    WITHDRAWAL_REQUESTED = 7  # Công dân yêu cầu rút hồ sơ
    STOPPED = 8  # Dừng xử lý
    PROCESSED = 9  # Đã xử lý xong
    RETURNED = 10  # Đã trả kết quả


class Channel(IntEnum):
    """KenhThucHien."""

    COUNTER = 1  # trực tiếp
    ONLINE = 2  # trực tuyến
    POSTAL = 3  # bưu chính công ích


class PaymentMethod(IntEnum):
    OFFLINE = 0
    NATIONAL_PORTAL = 1  # thanh toán qua Cổng DVC quốc gia
    PROVINCE_GATEWAY = 2  # qua cổng thanh toán của tỉnh


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoData(Data):
    pass


class Applicant(Data):
    """The applicant (chủ hồ sơ) as it travels: never the identity number in clear, never the name.

    Counters post the CCCD number to intake, which replaces it with these two (services/intake/pii.py).
    """

    id_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="HMAC-SHA256 of the CCCD number (intake's key)")
    id_masked: str = Field(pattern=r"^\*{8}[0-9]{4}$", description="For display: the last 4 digits, e.g. ********1245")


# Left out of the wire form when absent, so events without an applicant serialize as before.
_APPLICANT = Field(default=None, exclude_if=lambda v: v is None)


class Submitted(Data):
    """Registered online, not yet accepted (status 1)."""

    unit_code: str = Field(pattern=UNIT_CODE)
    procedure_code: str = Field(pattern=PROCEDURE_CODE)
    channel: Annotated[Channel, Integer] = Channel.ONLINE
    applicant: Applicant | None = _APPLICANT


class Received(Data):
    """Accepted at the counter (status 2); the clock starts."""

    unit_code: str = Field(pattern=UNIT_CODE)
    procedure_code: str = Field(pattern=PROCEDURE_CODE)
    channel: Annotated[Channel, Integer]
    applicant: Applicant | None = _APPLICANT


# Version 2 of the opening events (agreed with issue 15): where the dossier was received when that is not its
# handling unit (reception regardless of administrative boundaries, Plan 617). Absent: the handling unit.
_RECEIVING_UNIT = Field(
    default=None,
    pattern=UNIT_CODE,
    exclude_if=lambda v: v is None,
    description="The unit that received it, when not the handling unit (unit_code)",
)


def _optional(**kwargs: Any) -> Any:
    """A v2 field left out of the wire form when absent."""
    return Field(default=None, exclude_if=lambda v: v is None, **kwargs)


class PortalFacts(Data):
    """What the national portal's record needs from the opening event (v2, issue 15)."""

    summary: str | None = _optional(max_length=1000, description="TrichYeuHoSo: what is asked")
    submission_place: Literal["counter", "province_system", "national_portal"] | None = _optional(
        description="NoiNopHoSo: at the counter (1), online on the province's system (2) or the national portal (3)"
    )
    form: Literal["counter", "post"] | None = _optional(
        description="HinhThuc: the result is returned at the counter (0) or by post (1)"
    )
    applicant_type: Literal["citizen", "organisation", "state_body", "other"] | None = _optional(
        description="LoaiDoiTuong 1-4"
    )
    applicant_code: str | None = _optional(max_length=64, description="MaDoiTuong: the applicant's portal account id")
    vneid_authenticated: StrictBool = Field(
        default=False, exclude_if=lambda v: not v, description="TaiKhoanDuocXacThucVoiVNeID: signed in with VNeID"
    )
    databases_consulted: list[Annotated[str, Field(pattern=r"^[0-9]{1,15}$")]] = Field(
        default_factory=list,
        max_length=20,
        exclude_if=lambda v: not v,
        description="DSKetNoiCSDL: MaCSDL codes of the national databases used",
    )


class SubmittedV2(Submitted, PortalFacts):
    receiving_unit_code: str | None = _RECEIVING_UNIT


class ReceivedV2(Received, PortalFacts):
    receiving_unit_code: str | None = _RECEIVING_UNIT


class WithReason(Data):
    reason: str = Field(min_length=1, max_length=2000)


class Transferred(Data):
    """A hand-over recorded on the control sheet (phiếu kiểm soát quá trình)."""

    from_unit: str = Field(pattern=UNIT_CODE)
    to_unit: str = Field(pattern=UNIT_CODE)
    from_official: str | None = Field(default=None, max_length=200)
    to_official: str | None = Field(default=None, max_length=200)
    step_due_at: Moment | None = None


class FeeRequested(Data):
    amount: Amount
    fee_type: Annotated[Literal[1, 2], Integer] = Field(default=2, description="LoaiPhiLePhi: 1 phí, 2 lệ phí")


class FeePaid(Data):
    amount: Amount
    method: Annotated[PaymentMethod, Integer]


class Extended(Data):
    """Extension with an apology letter (thư xin lỗi): a new due date."""

    new_due_at: Moment
    reason: str = Field(min_length=1, max_length=2000)


class ComponentRecorded(Data):
    """A dossier component (thành phần hồ sơ) and how it was obtained."""

    component_code: str = Field(min_length=1, max_length=64)
    digitized: StrictBool = False  # DuocSoHoa
    reused: StrictBool = False  # DuocTaiSuDung
    from_population_data: StrictBool = False  # from the national population database
    from_personal_data_store: StrictBool = False  # kho dữ liệu cá nhân


_FILE_NAME = Field(default=None, max_length=500, exclude_if=lambda v: v is None)
_FILE_URL = Field(
    default=None,
    max_length=1000,
    pattern=r"^https?://\S+$",
    exclude_if=lambda v: v is None,
    description="The file's link in the province's storage",
)


class ComponentRecordedV2(ComponentRecorded):
    """Version 2: the component's file (TenTepDinhKem, DuongDanTaiTepTin)."""

    file_name: str | None = _FILE_NAME
    file_url: str | None = _FILE_URL


class ResultRecorded(Data):
    """The result document (giấy tờ kết quả).

    A result signed and numbered in the document-management system (docs/domain.md §10) also carries
    the number, symbol, promulgation date and signer issued there (source "document-system").
    """

    result_code: str = Field(min_length=1, max_length=64)
    electronic: StrictBool = False  # kết quả điện tử (signed file)
    digitized: StrictBool = False
    # Each left out of the wire form when absent, so counter-recorded results serialize as before.
    document_number: str | None = Field(default=None, max_length=16, exclude_if=lambda v: v is None)  # số
    document_symbol: str | None = Field(default=None, max_length=64, exclude_if=lambda v: v is None)  # ký hiệu
    promulgated_at: Moment | None = Field(default=None, exclude_if=lambda v: v is None)  # ngày ban hành
    signer: str | None = Field(default=None, max_length=200, exclude_if=lambda v: v is None)  # người ký
    # The issuer's edXML DocumentId, so that a later recall (status 15) names which result it withdraws.
    document_id: str | None = Field(default=None, max_length=200, exclude_if=lambda v: v is None)


class ResultRecordedV2(ResultRecorded):
    """Version 2: the result's file (TenGiayTo, DuongDanTepTinKetQua) and whether it was also put in
    the citizen's data store on the portal."""

    file_name: str | None = _FILE_NAME
    file_url: str | None = _FILE_URL
    in_citizen_store: StrictBool = Field(default=False, exclude_if=lambda v: not v)


class DocumentStatus(Data):
    """Version 1, read but no longer produced: a word per status (its codes were shifted by one
    meaning; version 2 carries the axis's own StatusCode). It changes nothing on the dossier."""

    document_id: str = Field(min_length=1, max_length=128, description="The edXML DocumentId it is about")
    status: Literal["received", "assigned", "processing", "done", "returned", "refused"]
    organ_id: str = Field(pattern=UNIT_CODE, description="The unit whose document system reports it")
    note: str | None = Field(default=None, max_length=2000)


# edXML StatusCode (docs/documents.md): 01 arrived, 02 refused, 03 accepted, 04 waiting for
# assignment, 05 assigned and being processed, 06 finished, 13 recall, 15 recall or update agreed,
# 16 recall or update refused.
DocumentStatusCode = Literal["01", "02", "03", "04", "05", "06", "13", "15", "16"]
DOCUMENT_STATUS_NAMES = {
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
RECALL_AGREED = "15"


class DocumentStatusV2(Data):
    """A status message of the document-management system about the dossier's signing request or
    its issued document, with the axis's StatusCode. 15 (recall agreed) withdraws the issued
    document it names: its number leaves the dossier and it no longer counts as a result."""

    document_id: str = Field(min_length=1, max_length=200, description="The edXML DocumentId it is about")
    status_code: DocumentStatusCode
    organ_id: str = Field(pattern=UNIT_CODE, description="The unit whose document system reports it")
    note: str | None = Field(default=None, max_length=2000)


class FeedbackReceived(Data):
    """A citizen's complaint or petition (PAKN, phản ánh kiến nghị) about the dossier."""

    feedback_id: str = Field(min_length=1, max_length=64)
    # Optional: absent, processing computes the deadlines by rule (15 working days to answer,
    # 2 to refuse, 5 to ask for more information). Left out of the wire form when absent.
    due_at: Moment | None = Field(
        default=None, exclude_if=lambda v: v is None, description="The deadline for answering this feedback"
    )
    content: str | None = Field(default=None, max_length=4000)


class FeedbackHandled(Data):
    feedback_id: str = Field(min_length=1, max_length=64)
    # What the handling was; absent = answered. A supplement request keeps the feedback open.
    outcome: Literal["answered", "refused", "supplement_requested"] | None = Field(
        default=None, exclude_if=lambda v: v is None
    )
    satisfied: StrictBool | None = Field(default=None, description="The citizen's verdict on the answer")


class Rated(Data):
    """The citizen's satisfaction rating of the reception and handling (đánh giá mức độ hài lòng)."""

    rating: Literal["very_satisfied", "satisfied", "neutral", "dissatisfied"]


class ResultReturned(Data):
    """Version 2 of dossier.result_returned: how the result reached the citizen."""

    return_method: Literal["counter", "post", "online"] = Field(
        description="counter: at the one-stop counter; post: by the public postal service; online: electronically"
    )


# The events that open a dossier (registered online, or received at the counter): a dossier is
# folded once one has arrived, and they carry the applicant.
OPENING_TYPES = frozenset({"dossier.submitted", "dossier.received"})

INTAKE_MODELS: dict[tuple[str, int], type[Data]] = {
    ("dossier.submitted", 1): Submitted,
    ("dossier.received", 1): Received,
    ("dossier.refused", 1): WithReason,
    ("dossier.transferred", 1): Transferred,
    ("dossier.supplement_requested", 1): WithReason,
    ("dossier.supplement_supplied", 1): NoData,
    ("dossier.fee_requested", 1): FeeRequested,
    ("dossier.fee_paid", 1): FeePaid,
    ("dossier.extended", 1): Extended,
    ("dossier.withdrawal_requested", 1): WithReason,
    ("dossier.stopped", 1): WithReason,
    ("dossier.processed", 1): NoData,
    ("dossier.result_returned", 1): NoData,
    ("dossier.component_recorded", 1): ComponentRecorded,
    ("dossier.result_recorded", 1): ResultRecorded,
    ("dossier.feedback_received", 1): FeedbackReceived,
    ("dossier.feedback_handled", 1): FeedbackHandled,
    ("dossier.rated", 1): Rated,
    ("dossier.document_status", 1): DocumentStatus,
    ("dossier.document_status", 2): DocumentStatusV2,
    ("dossier.submitted", 2): SubmittedV2,
    ("dossier.received", 2): ReceivedV2,
    ("dossier.component_recorded", 2): ComponentRecordedV2,
    ("dossier.result_recorded", 2): ResultRecordedV2,
    ("dossier.result_returned", 2): ResultReturned,
}


class Anomaly(Data):
    """An event that was not applied because the dossier's status did not allow it."""

    event_id: str
    type: str
    time: AwareDatetime
    reason: str


class ProcedureFacts(Data):
    """What the 766 index and the portal need of the dossier's procedure, as the catalog says."""

    name: str = ""
    field: str
    online: Literal["full", "partial", "none"]
    has_fee: bool
    online_payment: bool  # the procedure can be paid online
    fee_data_synced: bool  # its fee data is synced to the national portal
    population_data_connected: bool  # connected to the national population database
    field_code: str = Field(default="", exclude_if=lambda v: not v)  # mã lĩnh vực (MaLinhVuc)
    paper_result: bool = False  # the result is a paper document (3.3: online counts only with an e-result)
    time_unit: str = "working_days"  # the unit of its time limit (2.2 is shown in it)


class DocumentItem(Data):
    """A submitted component (TaiLieuNop)."""

    code: str
    digitized: bool
    reused: bool
    from_population_data: bool
    from_personal_data_store: bool = Field(default=False, exclude_if=lambda v: not v)  # DuocLayTuKhoDMQG
    file_name: str | None = Field(default=None, exclude_if=lambda v: v is None)
    file_url: str | None = Field(default=None, exclude_if=lambda v: v is None)


class FeeItem(Data):
    amount: int
    fee_type: int


class SupplementItem(Data):
    """A supplementation request, with the deadline before it and after it (DanhSachHoSoBoSung)."""

    requested_at: AwareDatetime
    supplied_at: AwareDatetime | None
    due_before: AwareDatetime | None
    due_after: AwareDatetime | None
    reason: str | None = Field(default=None, exclude_if=lambda v: v is None)  # NoiDungBoSung


class ResultItem(Data):
    """A result document with its file (DanhSachGiayToKetQua)."""

    code: str
    file_name: str | None = Field(default=None, exclude_if=lambda v: v is None)
    file_url: str | None = Field(default=None, exclude_if=lambda v: v is None)


class StepItem(Data):
    """A line of the control sheet (QuaTrinhXuLy)."""

    unit_code: str
    official: str | None
    started_at: AwareDatetime
    due_at: AwareDatetime | None
    ended_at: AwareDatetime | None
    verdict: Literal["early", "on_time", "late"] | None


class DossierState(Data):
    """The canonical dossier as processing judges it (event type dossier.state)."""

    dossier_code: str
    unit_code: str
    procedure_code: str
    channel: Channel
    status: Status
    revision: int = Field(description="Distinct events applied; grows with every new fact.")
    received_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = Field(default=None, description="End time for the verdict.")
    returned_at: AwareDatetime | None = None
    supplement_requests: int = 0
    paused_seconds: float = 0.0
    on_time: bool | None = Field(default=None, description="Final verdict once the end is known.")
    deadline_at: AwareDatetime | None = Field(
        default=None, description="Open dossiers are on time while the judging time <= this."
    )
    overdue: bool = Field(default=False, description="Open and past its deadline (quá hạn).")
    has_fee: bool = False
    paid_online: bool = False
    components: int = 0
    components_digitized: int = 0
    components_reused: int = 0
    uses_population_data: bool = False
    uses_personal_data_store: bool = False
    vneid_authenticated: bool = Field(default=False, description="TaiKhoanDuocXacThucVoiVNeID")
    databases_consulted: list[str] = Field(default_factory=list, description="DSKetNoiCSDL: MaCSDL codes")
    result_in_citizen_store: bool = Field(default=False, description="A result link synced to the citizen's data store")
    receiving_unit_code: str | None = Field(default=None, description="Where it was received, if not the handling unit")
    # Issue 14's facts; each left out of the wire form when absent.
    appointment_at: AwareDatetime | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="The citizen's appointment: the due date, or the new date of an extension",
    )
    handling_time: float | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Processed: reception to end minus supplementation, in the procedure's time unit",
    )
    return_method: str | None = Field(
        default=None, exclude_if=lambda v: v is None, description="How the result was returned (counter, post, online)"
    )
    pending_catalog: list[str] = Field(
        default_factory=list,
        exclude_if=lambda v: not v,
        description="Codes the catalog does not know yet ('procedure:X', 'unit:Y'): held, not judged",
    )
    result_digitized: bool = False
    electronic_result: bool = False
    result_is_document: bool = Field(default=False, description="The catalog says its result is an official document")
    document_number: str | None = Field(default=None, description="Number/symbol issued by the document system")
    feedback: int = Field(default=0, description="PAKN received about this dossier")
    feedback_handled_on_time: int = 0
    feedback_satisfied: int = 0
    disliked: bool = Field(default=False, description="Rated dissatisfied")
    procedure: ProcedureFacts | None = Field(default=None, description="The catalog entry's facts")
    submitted_at: AwareDatetime | None = None
    documents: list[DocumentItem] = Field(default_factory=list)
    fees: list[FeeItem] = Field(default_factory=list)
    supplements: list[SupplementItem] = Field(default_factory=list)
    results: list[str] = Field(default_factory=list, description="Result document codes")
    steps: list[StepItem] = Field(default_factory=list)
    anomalies: list[Anomaly] = Field(default_factory=list)
    # The portal record's facts from the v2 intake events (issue 15); absent from older states.
    summary: str | None = Field(default=None, exclude_if=lambda v: v is None)
    submission_place: str | None = Field(default=None, exclude_if=lambda v: v is None)
    form: str | None = Field(default=None, exclude_if=lambda v: v is None)
    applicant_type: str | None = Field(default=None, exclude_if=lambda v: v is None)
    applicant_code: str | None = Field(default=None, exclude_if=lambda v: v is None)
    payment_method: int = Field(
        default=0,
        exclude_if=lambda v: v == 0,
        description="DuocThanhToanTrucTuyen: 1 national portal, 2 the province's gateway",
    )
    result_items: list[ResultItem] = Field(default_factory=list, exclude_if=lambda v: not v)


def dossier_digitized(s: DossierState) -> bool:
    """The dossier's components are digitized: it has some, and every one is (HoSoCoThanhPhanSoHoa,
    docs/portal.md). Indicator 4.2 counts a dossier when this holds and its result is digitized too
    (docs/indicators.md, docs/domain.md: "digitized dossier, components and result both")."""
    return s.components > 0 and s.components_digitized == s.components


class SyncOutcome(Data):
    """What the national portal holds for a dossier after a sync attempt."""

    status: Status
    revision: int
    ok: bool
    error: str | None = None


CANONICAL_MODELS: dict[tuple[str, int], type[Data]] = {
    ("dossier.state", 1): DossierState,
    ("dossier.synced", 1): SyncOutcome,
}
DATA_MODELS = {**INTAKE_MODELS, **CANONICAL_MODELS}
