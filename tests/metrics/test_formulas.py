"""Hand-worked checks of the corrected formulas (issue 14): which dossiers each component counts,
the catalog-based CLGQ counts per unit level, targets by year, and the figures per unit and per
procedure computed from canonical events in a real schema."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.metrics.aggregates import Counts
from services.metrics.catalog import CatalogEntry
from services.metrics.handlers import ACCEPTS, _fact, handle_canonical_batch
from services.metrics.models import Base
from services.metrics.periods import parse_period
from services.metrics.reports import (
    Options,
    average_handling_time,
    breakdown,
    received_elsewhere,
    unit_report,
    with_catalog,
)
from services.metrics.targets import load_targets, targets_report
from shared.db import create_schema, make_engine, make_sessionmaker
from shared.event_types import DossierState, FeeItem, ProcedureFacts
from shared.tables import PLUMBING
from shared.units import load_units
from tests.conftest import DATABASE_URL, consumed

FEE_PROC = ProcedureFacts(
    field="Đất đai",
    online="partial",
    has_fee=True,
    online_payment=True,
    fee_data_synced=False,
    population_data_connected=False,
)
PAPER_PROC = ProcedureFacts(
    field="Xây dựng",
    online="full",
    has_fee=False,
    online_payment=False,
    fee_data_synced=False,
    population_data_connected=False,
    paper_result=True,
)


def state(**fields) -> DossierState:
    base = {
        "dossier_code": "H44.100-260810-0001",
        "unit_code": "H44.100",
        "procedure_code": "1.003003",
        "channel": 1,
        "status": 10,
        "revision": 3,
    }
    return DossierState(**(base | fields))


@pytest.mark.parametrize(
    "fields,owed,why",
    [
        ({"procedure": FEE_PROC}, True, "processed, no fee items yet: the catalog's fee is owed"),
        ({"procedure": FEE_PROC, "fees": [FeeItem(amount=30000, fee_type=2)]}, True, "a fee was asked"),
        (
            {"procedure": FEE_PROC, "fees": [FeeItem(amount=0, fee_type=2), FeeItem(amount=0, fee_type=1)]},
            False,
            "every fee synced is zero (an exemption)",
        ),
        ({"procedure": FEE_PROC, "status": 3}, False, "refused at reception, never owed a fee"),
        ({"procedure": FEE_PROC, "status": 7, "paid_online": True}, True, "withdrawn after paying online"),
        ({"procedure": PAPER_PROC}, False, "the procedure has no fee"),
        ({"procedure": None}, False, "unknown procedure (held)"),
    ],
)
def test_which_dossiers_owe_a_fee_3_6(fields, owed, why):
    assert _fact(state(**fields))["fee_owed"] is owed, why


@pytest.mark.parametrize(
    "fields,counted",
    [
        ({"channel": 2, "procedure": FEE_PROC}, True),  # online, result not a paper document
        ({"channel": 2, "procedure": PAPER_PROC}, False),  # paper result, no electronic result
        ({"channel": 2, "procedure": PAPER_PROC, "electronic_result": True}, True),
        ({"channel": 1, "procedure": FEE_PROC}, False),  # at the counter
        ({"channel": 3, "procedure": FEE_PROC}, False),  # by post
    ],
)
def test_online_dossiers_counted_for_3_3(fields, counted):
    assert _fact(state(**fields))["online_counted"] is counted


def test_returned_by_post_from_the_return_event_else_the_form_chosen_at_reception():
    assert _fact(state(return_method="post"))["returned_by_post"] is True
    assert _fact(state(form="post"))["returned_by_post"] is True
    assert _fact(state(form="post", return_method="counter"))["returned_by_post"] is False  # came to the counter
    assert _fact(state())["returned_by_post"] is False


def test_personal_store_4_4_and_population_data_4_5():
    assert _fact(state(result_in_citizen_store=True))["personal_store"] is True
    assert _fact(state(uses_personal_data_store=True))["personal_store"] is True
    assert _fact(state())["personal_store"] is False
    assert _fact(state(vneid_authenticated=True))["population_data"] is True
    assert _fact(state(databases_consulted=["3", "7"]))["population_data"] is True  # 7: population database
    assert _fact(state(databases_consulted=["3"]))["population_data"] is False
    assert _fact(state(uses_population_data=True))["population_data"] is True
    assert _fact(state(uses_personal_data_store=True))["population_data"] is True  # F 4.5: DuocLayTuKhoDMQG
    assert _fact(state(result_in_citizen_store=True))["population_data"] is False  # a result link is 4.4 only


def test_catalog_counts_follow_the_units_level():
    E = CatalogEntry
    catalog = {
        "1.000001": E("COMMUNE", "full"),
        "1.000002": E("COMMUNE", "none", True),
        "1.000003": E("COMMUNE", "partial"),
        "2.000001": E("PROVINCE", "full"),
        "2.000002": E("PROVINCE", "none"),
    }
    units = load_units()
    counts = Counts()
    counts.procedures["procedures_online_used"] = {"1.000001", "2.000001"}
    commune = with_catalog(counts, Options(catalog=catalog), units.units["H44.100"]).extra
    # 3 commune procedures, 2 online, 1 of them used online; eligible: 1.000001 (offers it) and
    # 1.000002 (marked eligible, not offered yet) -> 1 of 2 for Plan 617's 80%.
    assert commune == {
        "catalog_procedures": 3,
        "catalog_online": 2,
        "online_services_used": 1,
        "catalog_eligible": 2,
        "catalog_eligible_full": 1,
    }
    province = with_catalog(counts, Options(catalog=catalog), units.units["H44"]).extra  # every level
    assert (province["catalog_procedures"], province["catalog_online"], province["online_services_used"]) == (5, 3, 2)
    # No catalog: no CLGQ 3.1/3.2 counts, and the eligible-procedures rate has no ratio.
    assert with_catalog(counts, Options(), units.units["H44"]).extra == {
        "catalog_eligible": 0,
        "catalog_eligible_full": 0,
    }


def test_targets_carry_their_year_and_show_both_figures_where_the_plan_disagrees(tmp_path):
    years = load_targets()
    assert 2026 not in years and targets_report({"unit": {}, "children": []}, years.get(2026)) == []
    by_rate = {t.rate: t for t in years[2025].targets}
    assert by_rate["full_online_dossiers_rate"].target == 0.80  # the plan's body: 80% processed fully online
    assert by_rate["sync_full_rate"].target == 1.0
    assert [(a.target, a.source) for a in by_rate["full_online_procedures_rate"].alternatives] == [
        (1.0, "Phần nội dung của Kế hoạch")
    ]
    # An operator's copy, edited while metrics runs: the edit applies at the next request.
    edited = tmp_path / "targets.json"
    edited.write_text(
        json.dumps(
            {
                "years": {
                    "2027": {
                        "plan": "KH 2027",
                        "targets": [
                            {
                                "rate": "online_rate",
                                "target": 0.7,
                                "label": "Hồ sơ trực tuyến ≥ 70%",
                                "source": "KH 2027",
                            }
                        ],
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    assert [t.target for t in load_targets(str(edited))[2027].targets] == [0.7]
    edited.write_text(edited.read_text(encoding="utf-8").replace("0.7", "0.75"), encoding="utf-8")
    os.utime(edited, ns=(edited.stat().st_atime_ns, edited.stat().st_mtime_ns + 1_000_000))
    assert [t.target for t in load_targets(str(edited))[2027].targets] == [0.75]
    edited.write_text(
        json.dumps(
            {
                "years": {
                    "2027": {
                        "plan": "KH 2027",
                        "targets": [{"rate": "no_such_rate", "target": 0.5, "label": "x", "source": "y"}],
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    os.utime(edited, ns=(edited.stat().st_atime_ns, edited.stat().st_mtime_ns + 2_000_000))
    with pytest.raises(ValueError, match="no_such_rate"):
        load_targets(str(edited))


def test_average_handling_time_is_in_the_procedures_unit():
    counts = Counts()
    counts.values.update(handled=4, handling_time_centi=1000)
    counts.time_unit = "working_days"
    assert average_handling_time(counts) == {
        "value": 2.5,
        "unit": "working_days",
        "label": "ngày làm việc",
        "dossiers": 4,
    }
    assert average_handling_time(Counts()) is None


@pytest.fixture
async def metrics_db(schemas):
    schema = f"{schemas}metrics"
    engine = make_engine(DATABASE_URL, schema)
    await create_schema(engine, schema, PLUMBING, Base.metadata)
    yield make_sessionmaker(engine)
    await engine.dispose()


def records(events: list[tuple[str, str, dict]]) -> list[SimpleNamespace]:
    now = datetime.now(UTC).isoformat()
    return [
        SimpleNamespace(
            value=json.dumps(
                {
                    "id": f"{subject}:{kind}",
                    "type": kind,
                    "version": 1,
                    "source": "test",
                    "subject": subject,
                    "time": now,
                    "data": data,
                }
            ).encode()
        )
        for kind, subject, data in events
    ]


@pytest.mark.integration
async def test_unit_figures_from_canonical_events(metrics_db):
    """Four dossiers of H44.100 in March 2026:
    A online, returned (10) by post, received at H44.101 (outside its handling unit), synced at 10;
    B at the counter, processed (9), synced only at 4 (the portal lacks its final status);
    C by post, processed (9), synced at 9, fees all zero; D refused (3), not synced."""
    month = parse_period("2026-03")
    at = (month.start + timedelta(days=3, hours=9)).isoformat()
    proc = FEE_PROC.model_dump()
    common = {"unit_code": "H44.100", "procedure_code": "1.003003", "received_at": at, "revision": 4, "procedure": proc}
    states = {
        "A": {
            "channel": 2,
            "status": 10,
            "receiving_unit_code": "H44.101",
            "return_method": "post",
            "handling_time": 3.0,
            "paid_online": True,
            "fees": [{"amount": 30000, "fee_type": 2}],
        },
        "B": {"channel": 1, "status": 9, "handling_time": 5.0},
        "C": {"channel": 3, "status": 9, "handling_time": 1.0, "fees": [{"amount": 0, "fee_type": 2}]},
        "D": {"channel": 1, "status": 3},
    }
    code = {k: f"H44.100-260304-000{n}" for n, k in enumerate("ABCD", start=1)}
    events = [
        ("dossier.state", code[k], DossierState(dossier_code=code[k], **common, **v).model_dump(mode="json"))
        for k, v in states.items()
    ]
    events += [
        ("dossier.synced", code[k], {"status": s, "revision": 4, "ok": True})
        for k, s in (("A", 10), ("B", 4), ("C", 9))
    ]
    async with metrics_db() as session, session.begin():
        assert await handle_canonical_batch(session, consumed(records(events), ACCEPTS)) == []
    async with metrics_db() as session:
        report = await unit_report(
            session, period=month, unit="H44.100", units=load_units(), now=datetime.now(UTC), options=Options()
        )
        by_procedure = await breakdown(
            session, period=month, unit="H44.100", by="procedure", now=datetime.now(UTC), options=Options()
        )
        elsewhere = await received_elsewhere(session, period=month, unit="H44", units=load_units())
    rates = {k: (v["numerator"], v["denominator"]) for k, v in report["unit"]["rates"].items()}
    assert rates["sync_rate"] == (3, 4)  # any sync (766's 1.4)
    assert rates["sync_full_rate"] == (2, 3)  # A and C hold their final status; B does not; D never reached 9
    assert rates["received_elsewhere_rate"] == (1, 4)
    assert rates["received_by_post_rate"] == (1, 4) and rates["returned_by_post_rate"] == (1, 1)
    assert rates["online_payment_rate"] == (1, 2)  # A paid of A, B (C's fees all zero, D refused)
    # Counted for the handling unit (H44.100), listed with the unit that received it.
    assert elsewhere["total"] == 1 and [(u["unit_code"], u["received_by"]) for u in elsewhere["units"]] == [
        ("H44.100", [{"unit_code": "H44.101", "name": load_units().units["H44.101"].name, "dossiers": 1}])
    ]
    # 2.2: (3 + 5 + 1) / 3 processed = 3.0 working days, beside the procedure (not scored).
    [row] = by_procedure["rows"]
    assert row["average_handling_time"] == {
        "value": 3.0,
        "unit": "working_days",
        "label": "ngày làm việc",
        "dossiers": 3,
    }


async def test_the_catalog_view_reads_processing_and_says_none_when_it_cannot():
    import httpx

    from services.metrics.catalog import CatalogView

    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            return httpx.Response(503)
        return httpx.Response(200, json=[{"code": "1.000001", "level": "COMMUNE", "online": "full", "name": "x"}])

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://processing") as http:
        view = CatalogView(ttl=0)
        assert await view.get(http) is None  # processing unavailable: 3.1/3.2 not scored
        assert await view.get(http) == {"1.000001": CatalogEntry("COMMUNE", "full", False)}
        cached = CatalogView(ttl=3600)
        await cached.get(http)
        await cached.get(http)
    assert calls == ["/v1/procedures"] * 3


async def test_a_failed_catalog_read_keeps_the_last_list_and_is_tried_again_before_the_ttl():
    """Found by the upgrade test under load: one refused read left 3.1/3.2 unscored for a minute."""
    import httpx

    from services.metrics.catalog import CatalogView

    answers = [503, 200, 503]

    def answer(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        body = [{"code": "1.000001", "level": "COMMUNE", "online": "full", "name": "x"}] if status == 200 else None
        return httpx.Response(status, json=body)

    good = {"1.000001": CatalogEntry("COMMUNE", "full", False)}
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://processing") as http:
        view = CatalogView(ttl=3600, retry=0)
        assert await view.get(http) is None  # nothing read yet: not scored
        assert await view.get(http) == good  # tried again at once (retry 0), not after the hour
        view.ttl = 0  # the list is due again: processing refuses, the last list stays
        assert await view.get(http) == good
    assert answers == []


def test_the_monthly_workbook_shows_targets_notes_and_dossiers_received_elsewhere():
    import io

    from openpyxl import load_workbook

    from services.metrics.export import to_xlsx
    from services.metrics.reports import row

    counts = Counts()
    counts.values.update(received=4, received_elsewhere=1, received_by_post=1, returned=2, returned_by_post=1)
    unit = row("H44.100", counts, Options(), load_units())
    report = {"period": {"label": "2025-03"}, "unit": unit, "children": []}
    targets = targets_report(report, load_targets()[2025])
    book = load_workbook(io.BytesIO(to_xlsx(report, targets, year=2025)))
    plan = {r[0].value: [c.value for c in r] for r in book["Chỉ tiêu KH 617"].iter_rows(min_row=2)}
    assert "Phần nội dung của Kế hoạch: 100%" in plan["DVC trực tuyến toàn trình trên thủ tục đủ điều kiện ≥ 80%"][8]
    elsewhere = [[c.value for c in r] for r in book["Tiếp nhận ngoài địa bàn, BCCI"].iter_rows(min_row=2)]
    assert elsewhere == [["H44.100", unit["name"], 4, 1, 25.0, 1, 25.0, 1, 50.0]]
    empty = load_workbook(io.BytesIO(to_xlsx(report, [], year=2027)))
    assert [c.value for c in empty["Chỉ tiêu KH 617"][2]][0] == "Không có chỉ tiêu cho năm 2027"
