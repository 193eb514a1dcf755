"""Metrics outputs on the running pipeline: exports equal the API, per-dossier data needs a reader
token, and a projection rebuilt from the topics gives identical figures."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from openpyxl import load_workbook

from deploy.launch import Stack
from deploy.quiescence import wait_until_quiet
from tests.conftest import DATABASE_URL, KAFKA, free_port
from tests.e2e.test_pipeline import august_dossiers

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
AUGUST = {"period": "2026-08", "unit": "H44"}


async def test_exports_drill_down_and_rebuild(stack, db, topics, schemas, tmp_path):
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": stack.api_key}) as client:
        posted = await client.post(stack.url("intake") + "/v1/events/batch", json=august_dossiers())
        assert posted.status_code == 200, posted.text
    await wait_until_quiet(db, KAFKA, topics, schemas)

    metrics = httpx.AsyncClient(base_url=stack.url("metrics"), timeout=30)
    async with metrics:
        report = (await metrics.get("/v1/indicators", params=AUGUST)).json()

        csv_text = (await metrics.get("/v1/report.csv", params=AUGUST)).text.lstrip("\ufeff")
        exported = list(csv.reader(io.StringIO(csv_text)))
        header, province = exported[0], exported[1]
        assert province[:5] == ["H44", "UBND tỉnh Phú Thọ", "", "7", str(report["unit"]["index"]["score"])]
        assert province[header.index("Hồ sơ đúng hạn (%)")] == "57.14"

        book = load_workbook(io.BytesIO((await metrics.get("/v1/report.xlsx", params=AUGUST)).content))
        sheet = book["Chỉ số 766"]
        province = ["H44", "UBND tỉnh Phú Thọ", None, 7, report["unit"]["index"]["score"]]
        assert [c.value for c in sheet[3]][:5] == province
        targets = {row[0].value: row for row in book["Chỉ tiêu KH 617"].iter_rows(min_row=2)}
        assert targets["Đồng bộ kết quả lên Cổng DVC quốc gia 100%"][5].value == "Đạt"

        # Per-dossier data: none without a reader token; the drill-down reaches the control sheet.
        assert (await metrics.get("/v1/overdue", params={"unit": "H44"})).status_code == 401
        reader = {"Authorization": f"Bearer {stack.reader_token}"}
        overdue = (await metrics.get("/v1/overdue", params={"unit": "H44"}, headers=reader)).json()
        assert [d["dossier_code"] for d in overdue] == ["H44.100-260810-0001"]  # the one open dossier
        dossier = (await metrics.get("/v1/dossiers/H44.100-260810-0001", headers=reader)).json()
        assert dossier["state"]["overdue"] is True and dossier["control_sheet"] == []

    # A second metrics process, new schema and consumer group, rebuilds from the topics.
    rebuilt = Stack(
        run_dir=tmp_path / "rebuild",
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        schema_prefix=f"{schemas}rebuild_",
        ports={**stack.ports, "metrics": free_port()},
        extra_env={"metrics": {"METRICS_CONSUMER_GROUP": f"{topics.prefix}metrics-rebuild"}},
    )
    rebuilt.start("metrics")
    try:
        rebuilt.wait_ready("metrics")
        await wait_until_quiet(db, KAFKA, topics, f"{schemas}rebuild_", services=("metrics",))
        async with httpx.AsyncClient(base_url=rebuilt.url("metrics"), timeout=30) as client:
            again = (await client.get("/v1/indicators", params=AUGUST)).json()
    finally:
        rebuilt.stop_all()
    assert again["unit"] == report["unit"] and again["children"] == report["children"]
