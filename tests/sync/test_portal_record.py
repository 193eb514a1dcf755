"""The portal record is filled from the canonical state: lists, v2 facts, units by name and identifier."""

import pytest
from pydantic import ValidationError

from services.processing.catalog import load_seed
from services.processing.lifecycle import fold
from services.processing.workcalendar import load_calendar
from services.sync.portal.codec import Dialect, payload, step_key
from services.sync.portal.record import HoSo, TienDo
from shared.units import load_units
from tests.processing.test_lifecycle import CODE, at, ev

URL = "https://files.phutho.gov.vn/hs/"


def august_dossier(**opening):
    return fold(
        CODE,
        [
            # Stored events carry their data only; v2's fields are simply present.
            ev(
                "dossier.received",
                at("2026-08-10"),
                unit_code="H44.100",
                procedure_code="1.001612",
                channel=1,
                **opening,
            ),
            ev(
                "dossier.component_recorded",
                at("2026-08-10"),
                component_code="TP1",
                digitized=True,
                reused=False,
                from_population_data=True,
                from_personal_data_store=True,
                file_name="don.pdf",
                file_url=URL + "don.pdf",
            ),
            ev(
                "dossier.transferred",
                at("2026-08-10", "10:00"),
                from_unit="H44.100",
                to_unit="H44.100",
                to_official="Trần Thị Bình",
                step_due_at=at("2026-08-11", "17:00").isoformat(),
            ),
            ev("dossier.supplement_requested", at("2026-08-11"), reason="Thiếu giấy tờ"),
            ev("dossier.supplement_supplied", at("2026-08-12")),
            ev("dossier.fee_requested", at("2026-08-12", "10:00"), amount=100000, fee_type=2),
            ev("dossier.fee_paid", at("2026-08-12", "11:00"), amount=100000, method=2),
            ev(
                "dossier.result_recorded",
                at("2026-08-13"),
                result_code="GCN-HKD",
                electronic=True,
                digitized=True,
                file_name="gcn.pdf",
                file_url=URL + "gcn.pdf",
                in_citizen_store=True,
            ),
            ev("dossier.processed", at("2026-08-13", "10:00")),
        ],
        procedure=load_seed().get,
        calendar=load_calendar(),
    )


def test_every_part_of_the_record_comes_from_the_canonical_state():
    state = august_dossier(
        summary="Đăng ký hộ kinh doanh tạp hóa",
        submission_place="counter",
        form="post",
        applicant_type="citizen",
        applicant_code="PT-0001",
        vneid_authenticated=True,
        databases_consulted=["7"],
    )
    sent = payload(state, Dialect(load_units()))
    r = sent["record"]
    # What sync builds is what the portal takes: the dialect's strict models accept it as is.
    assert HoSo.model_validate(r).model_dump(mode="json") == r
    assert [TienDo.model_validate(s).model_dump(mode="json") for s in sent["progress"]] == sent["progress"]
    assert sent["dossier_code"] == CODE and r["MaHoSo"] == "000.00.30.H44-260810-0001"
    assert r["DonViXuLy"] == "UBND Phường Việt Trì"  # the unit's name, not its key
    assert (r["TenTTHC"], r["TenLinhVuc"]) == ("Đăng ký thành lập hộ kinh doanh", "Đăng ký kinh doanh")
    assert (r["TrichYeuHoSo"], r["NoiNopHoSo"], r["HinhThuc"], r["LoaiDoiTuong"], r["MaDoiTuong"]) == (
        "Đăng ký hộ kinh doanh tạp hóa",
        "1",
        "1",
        "1",
        "PT-0001",
    )
    assert (r["TaiKhoanDuocXacThucVoiVNeID"], r["DSKetNoiCSDL"], r["DuocThanhToanTrucTuyen"]) == (
        "1",
        [{"MaCSDL": "7"}],
        "2",
    )
    assert r["NgayNopHoSo"] == "20260810090000" and r["TrangThaiHoSo"] == "9"
    assert [
        (t["MaThanhPhanHoSo"], t["DuocSoHoa"], t["DuocLayTuKhoDMQG"], t["TenTepDinhKem"], t["DuongDanTaiTepTin"])
        for t in r["TaiLieuNop"]
    ] == [("TP1", "1", "1", "don.pdf", URL + "don.pdf")]
    assert [(f["Gia"], f["LoaiPhiLePhi"], f["TenPhiLePhi"]) for f in r["DanhSachLePhi"]] == [
        ("100000", "2", "Lệ phí Đăng ký thành lập hộ kinh doanh")
    ]
    # 3 working days from Mon 10/8 -> Thu 13/8 17:00; one day waiting for the citizen moves it to Fri 14/8.
    assert [
        (
            b["NoiDungBoSung"],
            b["NgayBoSung"],
            b["NgayTiepNhanBoSung"],
            b["TrangThaiBoSung"],
            b["NgayHenTraTruoc"],
            b["NgayHenTraMoi"],
        )
        for b in r["DanhSachHoSoBoSung"]
    ] == [("Thiếu giấy tờ", "20260811090000", "20260812090000", "1", "20260813170000", "20260814170000")]
    assert [(g["MaGiayToKetQua"], g["TenGiayTo"], g["DuongDanTepTinKetQua"]) for g in r["DanhSachGiayToKetQua"]] == [
        ("GCN-HKD", "gcn.pdf", URL + "gcn.pdf")
    ]
    assert state.result_in_citizen_store and state.vneid_authenticated
    # No identity in what is queued: it is filled just before a send.
    assert (r["SoGiayToChuHoSo"], r["ChuHoSo"], r["DinhDanhCHS"]) == ("", "", [])
    assert [(s["NoiDungXuLy"], s["TrangThai"], s["NguoiXuLy"], s["ThoiDiemXuLy"]) for s in sent["progress"]] == [
        ("Tiếp nhận hồ sơ", "2", "Bộ phận Một cửa", "20260810090000"),
        ("Chuyển xử lý", "4", "Trần Thị Bình", "20260810100000"),
        ("Hoàn thành xử lý", "9", "Bộ phận Một cửa", "20260813100000"),
    ]
    assert len({step_key(s) for s in sent["progress"]}) == 3


def test_version_1_events_still_give_a_full_record_with_deliberate_blanks():
    r = payload(august_dossier(), Dialect(load_units()))["record"]
    HoSo.model_validate(r)
    assert (r["TrichYeuHoSo"], r["NoiNopHoSo"], r["MaDoiTuong"], r["TaiKhoanDuocXacThucVoiVNeID"]) == (
        "Đăng ký thành lập hộ kinh doanh",
        "",
        "",
        "0",
    )


def test_the_dossier_code_pattern_is_the_provinces_setting():
    dialect = Dialect(load_units(), "{unit}-{date}-{seq}")
    assert dialect.national_code("H44.07-260803-00012") == "000.00.07.H44-260803-00012"
    assert Dialect(load_units(), "{unit}.{date}.{seq}").national_code("H44-260803-0001") == "000.00.00.H44.260803.0001"
    assert dialect.national_code("000.00.07.H44-260803-00012") == "000.00.07.H44-260803-00012"


def test_an_extensions_new_appointment_travels_in_the_note_and_ngayhentra_stays_the_due_date():
    # 1.000894 received Mon 10/8 (due 17/8 17:00); an apology letter promises Mon 24/8 17:00.
    state = fold(
        CODE,
        [
            ev("dossier.received", at("2026-08-10"), unit_code="H44.100", procedure_code="1.000894", channel=1),
            ev(
                "dossier.extended", at("2026-08-14"), new_due_at=at("2026-08-24", "17:00").isoformat(), reason="Xin lỗi"
            ),
        ],
        procedure=load_seed().get,
        calendar=load_calendar(),
    )
    r = payload(state, Dialect(load_units()))["record"]
    assert r["NgayHenTra"] == "20260817170000"
    assert r["GhiChu"] == "Gia hạn giải quyết (thư xin lỗi), hẹn trả mới: 17:00 24/08/2026"
    plain = fold(
        CODE,
        [ev("dossier.received", at("2026-08-10"), unit_code="H44.100", procedure_code="1.000894", channel=1)],
        procedure=load_seed().get,
        calendar=load_calendar(),
    )
    assert payload(plain, Dialect(load_units()))["record"]["GhiChu"] == ""


def test_digitized_is_one_rule_for_the_portal_record_and_the_indicator():
    """HoSoCoThanhPhanSoHoa says the components are digitized; indicator 4.2 counts a dossier when they
    are and its result is too: both read shared.event_types.dossier_digitized."""
    from services.metrics.handlers import _fact

    state = august_dossier()
    dialect = Dialect(load_units())
    cases = [  # (components, digitized, result digitized) -> (portal flag, metrics fact)
        ((1, 1, True), ("1", True)),
        ((1, 1, False), ("1", False)),
        ((2, 1, True), ("0", False)),
        ((0, 0, True), ("0", False)),
    ]
    for (components, digitized, result), expected in cases:
        s = state.model_copy(
            update={"components": components, "components_digitized": digitized, "result_digitized": result}
        )
        assert (payload(s, dialect)["record"]["HoSoCoThanhPhanSoHoa"], _fact(s)["digitized"]) == expected, s


def test_a_date_the_calendar_has_not_is_refused_every_time_it_comes():
    sent = payload(august_dossier(), Dialect(load_units()))
    step = sent["progress"][0]
    # Remembered verdicts (record._date_error) must not turn a second look into an acceptance.
    for _ in range(2):
        for bad in ("20261332000000", "20260229120000", "2026081", "2026-08-10 09"):
            with pytest.raises(ValidationError, match="NgayTiepNhan"):
                HoSo.model_validate(sent["record"] | {"NgayTiepNhan": bad})
            with pytest.raises(ValidationError, match="ThoiDiemXuLy"):
                TienDo.model_validate(step | {"ThoiDiemXuLy": bad})
        assert HoSo.model_validate(sent["record"] | {"NgayTra": ""}).NgayTra == ""
        assert TienDo.model_validate(step | {"ThoiDiemXuLy": "20280229235959"}).ThoiDiemXuLy == "20280229235959"
