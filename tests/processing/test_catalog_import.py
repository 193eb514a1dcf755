"""The whole catalog: a realistic province list imported (CSV and xlsx), what changed shown, time
limits kept with their history, and a dossier of an unknown procedure held, then judged once the
import teaches the catalog its code — published twice, counted once downstream."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import select, text

from services.metrics.handlers import ACCEPTS as METRICS_ACCEPTS
from services.metrics.handlers import handle_canonical_batch
from services.metrics.models import Base as MetricsBase
from services.processing.api import upsert_procedures
from services.processing.catalog import CatalogCache, load_seed
from services.processing.catalog_import import CatalogFileError, import_catalog, parse, read_rows
from services.processing.handlers import ACCEPTS, handle_intake_batch
from services.processing.models import Base, Dossier, PendingCatalog
from services.processing.pending import Folding, learn_known, pending_summary
from services.processing.workcalendar import load_calendar
from shared.tables import outbox
from shared.topics import Topics
from simulators.counter.events import EventFactory
from tests.conftest import DATABASE_URL, consumed
from tests.processing.conftest import records

FIXTURE = Path(__file__).parents[1] / "fixtures" / "catalog" / "phu-tho-procedures.csv"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
NEW_CODE = "2.005195"  # in the fixture, not in the seed: 10 office hours, commune level


def test_the_fixture_parses_into_a_few_hundred_valid_procedures():
    procedures = parse(read_rows(FIXTURE.read_bytes(), FIXTURE.name), {})
    assert len(procedures) == 400
    new = next(p for p in procedures if p.code == NEW_CODE)
    assert (new.level, new.limit.amount, new.limit.unit, new.online, new.paper_result, new.full_online_eligible) == (
        "COMMUNE",
        10,
        "hours",
        "full",
        True,
        True,
    )
    assert {p.field_code for p in procedures} >= {"G13-TP01", "G13-TN01"}


def test_an_xlsx_export_reads_like_the_csv():
    rows = read_rows(FIXTURE.read_bytes(), FIXTURE.name)
    book = Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for r in rows:
        sheet.append([float(v) if v.isdigit() else v for v in r.values()])  # numbers as Excel's doubles
    buffer = io.BytesIO()
    book.save(buffer)
    assert parse(read_rows(buffer.getvalue(), "x.xlsx"), {}) == parse(rows, {})


def test_invalid_rows_are_named_and_nothing_is_imported():
    bad = FIXTURE.read_text(encoding="utf-8").replace("Ngày làm việc", "Tuần", 1).replace(",Cấp xã,", ",Huyện,", 1)
    with pytest.raises(CatalogFileError) as raised:
        parse(read_rows(bad.encode(), "x.csv"), {})
    assert {(e["row"], e["field"]) for e in raised.value.errors} == {(2, "level"), (2, "limit_unit")}
    with pytest.raises(CatalogFileError) as raised:
        parse(read_rows(b"code,name\n1.000001,x\n", "x.csv"), {})
    assert {e["message"] for e in raised.value.errors} == {"column missing"}


@pytest.mark.integration
async def test_unknown_procedure_is_held_then_judged_after_import_and_counted_once(stores):
    processing = await stores("processing", Base.metadata)
    metrics = await stores("metrics", MetricsBase.metadata)
    folding = Folding(load_calendar(), CatalogCache(), Topics("t-"))
    async with processing() as session, session.begin():
        await session.execute(upsert_procedures(list(load_seed().values()), replace=False))

    # A dossier of 2.005195 (not in the seed): received Mon 10/8/2026 09:00, processed 14:00.
    code = "H44.100-260810-0007"
    f = EventFactory("motcua-test")
    received = datetime(2026, 8, 10, 9, tzinfo=VN)
    events = [
        f.received(code, received, unit="H44.100", procedure=NEW_CODE, channel=2),
        f.event("dossier.processed", code, received + timedelta(hours=5)),
    ]
    async with processing() as session, session.begin():
        assert (
            await handle_intake_batch(
                session,
                consumed(records(events), ACCEPTS),
                calendar=folding.calendar,
                catalog=folding.catalog,
                topics=folding.topics,
            )
            == []
        )
    async with processing() as session:
        held = (await session.get(Dossier, code)).state
        summary = await pending_summary(session)
    assert held["pending_catalog"] == [f"procedure:{NEW_CODE}"] and held["on_time"] is None
    assert held["status"] == 9 and held["due_at"] is None
    assert [(p["kind"], p["code"], p["dossiers"], p["sample"]) for p in summary] == [("procedure", NEW_CODE, 1, [code])]

    # Dry run: shows the change, changes nothing. Then the import: 382 added, none of the seed changed.
    async with processing() as session, session.begin():
        preview = await import_catalog(session, FIXTURE.read_bytes(), FIXTURE.name, dry_run=True, folding=folding)
    assert (len(preview["added"]), preview["changed"], preview["unchanged"]) == (382, [], 18)
    assert preview["released"] == {}
    async with processing() as session, session.begin():
        report = await import_catalog(session, FIXTURE.read_bytes(), FIXTURE.name, folding=folding)
    assert len(report["added"]) == 382 and report["released"] == {f"procedure:{NEW_CODE}": 1}
    async with processing() as session:
        judged = (await session.get(Dossier, code)).state
        assert (await session.execute(select(PendingCatalog))).first() is None
        published = [
            json.loads(v)
            for v in (
                await session.execute(
                    select(outbox.c.value).where(outbox.c.topic == "t-dossier-lifecycle").order_by(outbox.c.id)
                )
            ).scalars()
        ]
    # 10 office hours from 09:00 Mon: 2.5 h + 3.5 h Mon, 4 h Tue -> due Tue 11/8 11:30; processed at 14:00 Mon.
    assert judged.get("pending_catalog", []) == [] and judged["on_time"] is True
    assert datetime.fromisoformat(judged["due_at"]) == datetime(2026, 8, 11, 11, 30, tzinfo=VN)
    assert [p["data"]["revision"] for p in published] == [2, 3]  # unjudged, then judged

    # Metrics sees both revisions (and a redelivery of the first): one dossier, on time.
    async with metrics() as session, session.begin():
        batch = consumed(records(published + published[:1]), METRICS_ACCEPTS)
        assert await handle_canonical_batch(session, batch) == []
    async with metrics() as session:
        rows = (await session.execute(text("SELECT count(*), bool_and(on_time) FROM dossier_facts"))).one()
    assert tuple(rows) == (1, True)

    # A second import that changes 1.000894's limit keeps the old one for earlier dossiers.
    changed = FIXTURE.read_text(encoding="utf-8").replace(
        "1.000894,Đăng ký kết hôn,,Hộ tịch,Cấp xã,5,", "1.000894,Đăng ký kết hôn,,Hộ tịch,Cấp xã,3,"
    )
    async with processing() as session, session.begin():
        report = await import_catalog(
            session, changed.encode(), "x.csv", effective_from=date(2026, 9, 1), folding=folding
        )
    assert report["added"] == [] and [c["code"] for c in report["changed"]] == ["1.000894"]
    assert report["changed"][0]["changes"]["limit"] == [
        {"amount": 5, "unit": "working_days"},
        {"amount": 3, "unit": "working_days"},
    ]
    async with processing() as session:
        procedures = await folding.catalog.procedures(session)
    assert [(f.amount, f.until) for f in procedures["1.000894"].former_limits] == [(5, date(2026, 9, 1))]


@pytest.mark.integration
async def test_unknown_unit_is_held_then_judged_when_the_unit_list_learns_it(stores, monkeypatch):
    processing = await stores("processing", Base.metadata)
    folding = Folding(load_calendar(), CatalogCache(), Topics("t-"))
    async with processing() as session, session.begin():
        await session.execute(upsert_procedures(list(load_seed().values()), replace=False))
    code = "H44.200-260810-0001"  # H44.200 is not in the shipped list (76 units), it is in the new file
    f = EventFactory("motcua-test")
    received = datetime(2026, 8, 10, 9, tzinfo=VN)
    events = [
        f.received(code, received, unit="H44.200", procedure="1.000894", channel=1),
        f.event("dossier.processed", code, received + timedelta(days=1)),
    ]
    async with processing() as session, session.begin():
        await handle_intake_batch(
            session,
            consumed(records(events), ACCEPTS),
            calendar=folding.calendar,
            catalog=folding.catalog,
            topics=folding.topics,
        )
    async with processing() as session:
        held = (await session.get(Dossier, code)).state
        assert [(p["kind"], p["code"]) for p in await pending_summary(session)] == [("unit", "H44.200")]
    assert held["pending_catalog"] == ["unit:H44.200"] and held["on_time"] is None
    assert held["due_at"] is not None  # the procedure is known: its due date is kept for the verdict

    monkeypatch.setenv("UNITS_PATH", str(Path(__file__).parents[1] / "fixtures" / "units" / "phu-tho-units.csv"))
    async with processing() as session, session.begin():
        assert await learn_known(session, folding) == {"unit:H44.200": 1}
    async with processing() as session, session.begin():
        assert await learn_known(session, folding) == {}  # learned once
    async with processing() as session:
        judged = (await session.get(Dossier, code)).state
    assert judged.get("pending_catalog", []) == [] and judged["on_time"] is True and judged["revision"] == 3


@pytest.mark.integration
def test_the_import_command_as_an_operator_runs_it(schemas):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PROCESSING_DATABASE_URL=DATABASE_URL, PROCESSING_DB_SCHEMA=f"{schemas}processing")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "services.processing.catalog_import", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    preview = run(str(FIXTURE), "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert len(json.loads(preview.stdout)["added"]) == 400  # an empty catalog: everything is new
    assert json.loads(run(str(FIXTURE)).stdout)["dry_run"] is False
    bad = run(str(FIXTURE.with_name("generate.py")))
    assert bad.returncode == 2 and "must be a .csv or .xlsx file" in bad.stderr


@pytest.mark.parametrize(
    "content, name",
    [
        (b"", "import.xlsx"),  # an empty body
        (b"PK\x03\x04 not a zip", "import.xlsx"),  # a broken workbook
        (b"\xff\xfe\x00 not utf-8", "import.csv"),
    ],
)
def test_an_unreadable_file_is_the_senders_error_naming_the_file(content, name):
    """Found by the fuzzer: a body that is not what its format says answered 500."""
    with pytest.raises(CatalogFileError) as caught:
        read_rows(content, name)
    assert [(e["field"], e["message"].split(" (")[0]) for e in caught.value.errors] == [
        ("file", f"not a readable {name.rsplit('.', 1)[1]} file")
    ]
