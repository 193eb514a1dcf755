"""The document-management simulator: numbering per unit and year, statuses, recall, signatures, faults."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx

from services.sync.documents.edxml import Document, Organ, StatusMessage, build_document, parse
from services.sync.documents.organs import organ
from services.sync.documents.request import envelope
from simulators.docsys.app import DocsysSettings, create_app

SYSTEM = organ("H44", "Hệ thống thông tin giải quyết TTHC tỉnh Phú Thọ")


def record(code: str, unit: str = "H44.100") -> dict:
    return {
        "dossier_code": code,
        "unit_code": unit,
        "unit_name": "Đơn vị",
        "procedure_code": "1.004227",
        "subject": f"Kết quả giải quyết hồ sơ {code}",
        "requested_at": "2026-08-15T10:00:00+07:00",
    }


def settings(pki, **overrides) -> DocsysSettings:
    paths = pki["paths"]
    return DocsysSettings(
        signing_key=str(paths["docsys_key"]),
        signing_cert=str(paths["docsys_cert"]),
        trust_store=str(paths["trust_store"]),
        **overrides,
    )


async def drain(client: httpx.AsyncClient, want: int, verifier) -> list:
    got = []
    for _ in range(100):
        for m in (await client.get("/edxml/messages", params={"organ": SYSTEM.id})).json():
            got.append(parse((await client.get(f"/edxml/messages/{m['id']}")).content, verifier))
            assert (await client.post(f"/edxml/messages/{m['id']}/ack")).status_code == 204
        if len(got) >= want:
            return got
        await asyncio.sleep(0.02)  # the simulator's delays are short here
    raise AssertionError(f"only {len(got)} of {want} messages")


async def test_requests_are_numbered_per_unit_signed_and_refused_ones_come_back_in_a_new_round(pki):
    app = create_app(settings(pki, delay_min_seconds=0.01, delay_max_seconds=0.02, seed=1))
    key, verifier = pki["province"], pki["verifier"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sim") as client:
        await client.post("/admin/fates", json={"planned": {"H44.100-260815-0003": "returned"}})
        for n in (1, 2, 3):
            request = envelope(record(f"H44.100-260815-000{n}"), SYSTEM, key)
            sent = await client.post("/edxml/documents", content=request)
            assert sent.status_code == 202
        assert (
            await client.post("/edxml/documents", content=envelope(record("H44.07-260815-0001", "H44.07"), SYSTEM, key))
        ).status_code == 202
        again = await client.post("/edxml/documents", content=envelope(record("H44.100-260815-0001"), SYSTEM, key))
        assert again.status_code == 200
        messages = await drain(client, 3 * 4 + 3, verifier)  # 03, 05, document, 06; or 03, 05, 02
        assert all(m.signed_by for m in messages)
        issued = {m.response_for[0].code: m.code for m in messages if isinstance(m, Document)}
        assert issued == {
            "H44.100-260815-0001/PTr-HCC": "1/QĐ-UBND",
            "H44.100-260815-0002/PTr-HCC": "2/QĐ-UBND",
            "H44.07-260815-0001/PTr-HCC": "1/QĐ-SCT",
        }
        codes = [
            m.code
            for m in messages
            if isinstance(m, StatusMessage) and m.response_for.code.startswith("H44.100-260815-0003")
        ]
        assert codes == ["03", "05", "02"]
        assert (
            await client.post("/edxml/documents", content=envelope(record("H44.100-260815-0003"), SYSTEM, key))
        ).status_code == 202
        again = await drain(client, 4, verifier)
        assert [m.code for m in again if isinstance(m, Document)] == ["3/QĐ-UBND"]
        looked = (
            await client.get("/edxml/requests", params={"organ": SYSTEM.id, "code": "H44.100-260815-0003/PTr-HCC"})
        ).json()
        assert looked["state"] == "issued" and looked["code"] == "3/QĐ-UBND" and looked["round"] == 2


async def test_a_recall_sends_13_then_15_and_the_request_may_be_sent_again(pki):
    app = create_app(settings(pki, delay_min_seconds=0.01, delay_max_seconds=0.02, seed=3))
    key, verifier = pki["province"], pki["verifier"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sim") as client:
        await client.post("/edxml/documents", content=envelope(record("H44.100-260815-0009"), SYSTEM, key))
        doc = next(m for m in await drain(client, 4, verifier) if isinstance(m, Document))
        assert (await client.post("/admin/recall", json={"document_id": "no-such-id"})).status_code == 404
        assert (await client.post("/admin/recall", json={"document_id": doc.document_id})).json()["state"] == "recalled"
        recall = await drain(client, 2, verifier)
        assert [(m.code, m.response_for.document_id) for m in recall] == [
            ("13", doc.document_id),
            ("15", doc.document_id),
        ]
        sent = await client.post("/edxml/documents", content=envelope(record("H44.100-260815-0009"), SYSTEM, key))
        assert sent.status_code == 202 and sent.json()["round"] == 2


async def test_unsigned_untrusted_malformed_requests_and_unknown_units_are_refused_and_faults_apply(pki):
    app = create_app(settings(pki, seed=2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sim") as client:
        bad = await client.post("/edxml/documents", content=b"<not-edxml/>")
        assert bad.status_code == 422 and "not valid edXML" in bad.json()["detail"]
        unsigned = await client.post("/edxml/documents", content=envelope(record("H44.100-260815-0001"), SYSTEM))
        assert unsigned.status_code == 422 and unsigned.json()["detail"].startswith("unsigned")
        stranger = await client.post(
            "/edxml/documents", content=envelope(record("H44.100-260815-0001"), SYSTEM, pki["stranger"])
        )
        assert stranger.status_code == 422 and stranger.json()["detail"].startswith("untrusted signer")
        other = envelope(record("H44.100-260815-0001"), SYSTEM, pki["province"]).replace(
            b"<OrganId>000.00.30.H44</OrganId>", b"<OrganId>000.00.29.H44</OrganId>"
        )
        tampered = await client.post("/edxml/documents", content=other)
        assert tampered.status_code == 422 and "tampered" in tampered.json()["detail"]
        nobody = replace(
            parse(envelope(record("H44.100-260815-0001"), SYSTEM)),
            receivers=(Organ("000.00.29.H44", "Không có đơn vị này"),),
        )
        unknown = await client.post("/edxml/documents", content=build_document(nobody, pki["province"]))
        assert unknown.status_code == 422 and "unknown receiving unit 000.00.29.H44" in unknown.json()["detail"]
        await client.post("/admin/faults", json={"down_for_seconds": 30})
        down = await client.post(
            "/edxml/documents", content=envelope(record("H44.100-260815-0001"), SYSTEM, pki["province"])
        )
        assert down.status_code == 503 and int(down.headers["Retry-After"]) > 0
