"""The Vietnamese dashboard in a real headless Chromium, against the services as processes."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.async_api import async_playwright

from deploy.quiescence import wait_until_quiet
from tests.conftest import KAFKA
from tests.e2e.test_pipeline import august_dossiers

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Kept under var/ (the README shows a copy in docs/, refreshed by hand from this file).
SCREENSHOT = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "dashboard.png"


async def test_dashboard_shows_the_figures_in_vietnamese(stack, db, topics, schemas):
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": stack.api_key}) as client:
        posted = await client.post(stack.url("intake") + "/v1/events/batch", json=august_dossiers())
        assert posted.status_code == 200, posted.text
    await wait_until_quiet(db, KAFKA, topics, schemas)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 1800}, locale="vi-VN")
        console: list[str] = []  # the page runs under its content security policy: nothing refused
        page.on("console", lambda message: console.append(message.text))
        await page.goto(stack.url("metrics") + "/?period=2026-08")
        await page.wait_for_selector("body[data-loaded='2026-08']", timeout=15000)

        assert await page.title() == "Chỉ số phục vụ người dân, doanh nghiệp — tỉnh Phú Thọ"
        # 4 of 7 dossiers on time: 57,14 % in Vietnamese number format, and 20 × 4/7 = 11,43 points.
        rates = await page.inner_text("#rates")
        assert "57,14" in rates and "Hồ sơ đúng hạn" in rates
        assert "11,43 / 20" in await page.inner_text("#groups")
        units = page.locator("#units tbody tr")
        assert await units.count() == 75
        first = await units.first.inner_text()
        assert "UBND Phường Việt Trì" in first or "Sở Công Thương" in first  # the two units with dossiers rank first

        await page.fill("#filter", "Việt Trì")
        assert await units.count() == 1
        await page.fill("#filter", "")
        await page.click("#units th[data-key='received']")
        await page.click("#units th[data-key='received']")  # descending
        assert (await units.first.inner_text()).startswith("1\tH44.100") or "H44.100" in await units.first.inner_text()

        # The trend chart: labelled axes, the Plan 617 target as a line, values on hover and on focus.
        chart = await page.text_content("#trend")
        assert "Điểm 766" in chart and "Tỷ lệ (%)" in chart and "Tháng" in chart
        assert "Mục tiêu KH 617: 60,00" in chart  # online dossiers' target, the series drawn first
        assert await page.locator("#trend line.target").count() == 1
        await page.select_option("#trend-rate", "on_time_rate")
        await page.hover("#trend g.month[data-period='2026-08']")
        tip = await page.inner_text("#trend-tip")
        total = await page.inner_text("#total-score")
        assert "Tháng 08/2026" in tip and f"Điểm 766: {total}" in tip and "Hồ sơ đúng hạn: 57,14" in tip
        assert "Tiếp nhận: 7 hồ sơ" in tip
        await page.focus("#trend g.month[data-period='2026-07']")
        assert "Tháng 07/2026" in await page.inner_text("#trend-tip")

        # The period picker: the quarter and the year of the chosen month, and a range of months.
        assert await page.inner_text("#period-label") == "Tháng 08/2026"
        await page.click("#period-picker [data-preset='quarter']")
        await page.wait_for_selector("body[data-loaded='2026-Q3']", timeout=15000)
        assert await page.inner_text("#period-label") == "Quý 3/2026"
        await page.click("#period-picker [data-preset='year']")
        await page.wait_for_selector("body[data-loaded='2026']", timeout=15000)
        await page.click("#period-picker [data-preset='range']")
        await page.select_option("#to-month", "09")
        await page.wait_for_selector("body[data-loaded='2026-08-01..2026-09-30']", timeout=15000)
        assert await page.inner_text("#period-label") == "Từ 01/08/2026 đến 30/09/2026"
        assert await page.locator("#trend g.month").count() == 2
        await page.click("#period-picker [data-preset='month']")
        await page.wait_for_selector("body[data-loaded='2026-08']", timeout=15000)

        await page.click("#units tbody tr[data-unit='H44.07']")
        await page.wait_for_function("document.querySelector('#drill-unit').textContent === 'H44.07'")
        assert "2.001035" in await page.inner_text("#by-procedure")
        assert "Bưu chính công ích" in await page.inner_text("#by-channel")

        image = await page.screenshot(full_page=False)

        # The per-dossier panel with a token bound to H44.100: another unit's overdue list is
        # refused (said in Vietnamese), its own unit's is shown.
        await page.fill("#token", stack.unit_reader_token)
        async with page.expect_response(lambda r: "/v1/overdue" in r.url) as refused:
            await page.click("#load-overdue")
        assert (await refused.value).status == 403
        await page.wait_for_function("document.querySelector('#overdue tbody').textContent.includes('không được xem')")
        await page.click("#units tbody tr[data-unit='H44.100']")
        await page.wait_for_function("document.querySelector('#drill-unit').textContent === 'H44.100'")
        async with page.expect_response(lambda r: "/v1/overdue" in r.url) as allowed:
            await page.click("#load-overdue")
        assert (await allowed.value).status == 200
        assert not [m for m in console if "Content Security Policy" in m], console
        await browser.close()

    picture = Image.open(io.BytesIO(image)).convert("RGB")
    colours = picture.getcolors(maxcolors=1 << 20)
    assert picture.size == (1280, 1800) and len(colours) > 50  # real content, not a blank page
    # The header's brand red is drawn (the page is styled, not raw HTML).
    assert any(abs(r - 0xB3) < 8 and abs(g - 0x26) < 8 and abs(b - 0x1E) < 8 for _, (r, g, b) in colours)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(image)
