"""The portal record carries the dossier's lists: documents, fees, supplementation, results, steps."""

from services.processing.catalog import load_seed
from services.processing.lifecycle import fold
from services.processing.workcalendar import load_calendar
from services.sync.portal import to_portal_record
from tests.processing.test_lifecycle import CODE, at, ev, received


def test_every_list_of_the_record_is_filled_from_the_canonical_state():
    state = fold(CODE, [
        received(at("2026-08-10"), procedure="1.001612"),
        ev("dossier.component_recorded", at("2026-08-10"), component_code="TP1", digitized=True, reused=False,
           from_population_data=True, from_personal_data_store=False),
        ev("dossier.transferred", at("2026-08-10", "10:00"), from_unit="H44.100", to_unit="H44.100",
           to_official="Trần Thị Bình", step_due_at=at("2026-08-11", "17:00").isoformat()),
        ev("dossier.supplement_requested", at("2026-08-11"), reason="Thiếu giấy tờ"),
        ev("dossier.supplement_supplied", at("2026-08-12")),
        ev("dossier.fee_requested", at("2026-08-12", "10:00"), amount=100000, fee_type=2),
        ev("dossier.fee_paid", at("2026-08-12", "11:00"), amount=100000, method=1),
        ev("dossier.result_recorded", at("2026-08-13"), result_code="GCN-HKD", electronic=True, digitized=True),
        ev("dossier.processed", at("2026-08-13", "10:00")),
    ], procedure=load_seed().get, calendar=load_calendar())
    record = to_portal_record(state)
    assert record.TenTTHC == "Đăng ký thành lập hộ kinh doanh" and record.MaLinhVuc == "Đăng ký kinh doanh"
    assert record.NgayNopHoSo == "20260810090000"
    assert [(t.MaThanhPhanHoSo, t.DuocSoHoa, t.DuocLayTuKhoDMQG) for t in record.TaiLieuNop] == [("TP1", 1, 1)]
    assert [(f.Gia, f.LoaiPhiLePhi) for f in record.DanhSachLePhi] == [(100000, 2)]
    # 3 working days from Mon 10/8 -> Thu 13/8 17:00; one day waiting for the citizen moves it to Fri 14/8.
    assert [(b.NgayHenTraTruoc, b.NgayHenTraMoi) for b in record.DanhSachHoSoBoSung] == [
        ("20260813170000", "20260814170000")]
    assert [g.MaGiayToKetQua for g in record.DanhSachGiayToKetQua] == ["GCN-HKD"]
    assert [(s.MaDonVi, s.NguoiXuLy, s.NgayBatDau, s.NgayKetThuc) for s in record.QuaTrinhXuLy] == [
        ("H44.100", "Trần Thị Bình", "20260810100000", "20260813100000")]
