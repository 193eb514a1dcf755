"""The document-management simulator: numbering per unit and year, delays, fates, faults, polling."""

from __future__ import annotations

import asyncio

import httpx

from services.docsys_simulator.app import DocsysSettings, create_app
from services.docsys_simulator.edxml import Attachment, Document, Organ, StatusMessage, build_document
from services.docsys_simulator.edxml_read import parse

SYSTEM = Organ("H44", "Hệ thống thông tin giải quyết TTHC tỉnh Phú Thọ")


def request(code: str, unit: str = "H44.100") -> bytes:
    return build_document(Document(
        sender=SYSTEM, receiver=Organ(unit, "Đơn vị"), document_id=code, type="QĐ", type_name="Quyết định",
        subject=f"Kết quả giải quyết hồ sơ {code}", attachments=(Attachment("du-thao.txt", "text/plain", b"draft"),)))


async def drain(client: httpx.AsyncClient, want: int) -> list:
    got = []
    for _ in range(100):
        for m in (await client.get("/edxml/messages", params={"organ": "H44"})).json():
            got.append(parse((await client.get(f"/edxml/messages/{m['id']}")).content))
            assert (await client.post(f"/edxml/messages/{m['id']}/ack")).status_code == 204
        if len(got) >= want:
            return got
        await asyncio.sleep(0.02)  # the simulator's delays are short here
    raise AssertionError(f"only {len(got)} of {want} messages")


async def test_requests_are_numbered_per_unit_and_returned_ones_come_back_in_a_new_round():
    app = create_app(DocsysSettings(delay_min_seconds=0.01, delay_max_seconds=0.02, seed=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sim") as client:
        await client.post("/admin/fates", json={"planned": {"H44.100-260815-0003": "returned"}})
        for n in (1, 2, 3):
            assert (await client.post("/edxml/documents", content=request(f"H44.100-260815-000{n}"))).status_code == 202
        sent = await client.post("/edxml/documents", content=request("H44.07-260815-0001", "H44.07"))
        assert sent.status_code == 202
        assert (await client.post("/edxml/documents", content=request("H44.100-260815-0001"))).status_code == 200
        messages = await drain(client, 3 * 4 + 3)  # received, assigned, document, done; or returned
        issued = {m.response_for[1]: f"{m.code_number}/{m.code_notation}" for m in messages if isinstance(m, Document)}
        assert issued == {"H44.100-260815-0001": "1/QĐ-UBND", "H44.100-260815-0002": "2/QĐ-UBND",
                          "H44.07-260815-0001": "1/QĐ-SCT"}
        statuses = [m.status for m in messages if isinstance(m, StatusMessage) and m.response_for[1].endswith("0003")]
        assert statuses == ["received", "assigned", "returned"]
        assert (await client.post("/edxml/documents", content=request("H44.100-260815-0003"))).status_code == 202
        again = await drain(client, 4)
        assert [f"{m.code_number}/{m.code_notation}" for m in again if isinstance(m, Document)] == ["3/QĐ-UBND"]


async def test_malformed_requests_and_unknown_units_are_refused_and_faults_apply():
    app = create_app(DocsysSettings(seed=2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sim") as client:
        bad = await client.post("/edxml/documents", content=b"<not-edxml/>")
        assert bad.status_code == 422 and "not valid edXML" in bad.json()["detail"]
        unknown = await client.post("/edxml/documents", content=request("H44.999-260815-0001", "H44.999"))
        assert unknown.status_code == 422 and "unknown receiving unit" in unknown.json()["detail"]
        await client.post("/admin/faults", json={"down_for_seconds": 30})
        down = await client.post("/edxml/documents", content=request("H44.100-260815-0001"))
        assert down.status_code == 503 and int(down.headers["Retry-After"]) > 0
