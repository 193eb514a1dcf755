"""Results that are official documents go through the document system and come back numbered.

The services run as processes on the real broker and database, with the document-management
simulator failing part of its calls and going down for a while; two requests are refused (sent
back for changes) and sent again. Every envelope is signed and verified (the stack provisions a
throwaway PKI). Every dossier ends with its number on the dossier, on the control sheet and in
the indicators; malformed, mismatched, unsigned, tampered and untrusted envelopes are rejected,
each with its reason; a recall withdraws one document and a new one is issued in its place.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from deploy.launch import SERVICES, Stack
from services.sync.documents.edxml import Document, DocumentRef, Signer, Trace, build_document
from services.sync.documents.organs import organ
from services.sync.documents.request import DECISION_TYPE, REQUEST_NOTATION
from services.sync.documents.signing import load_signing_key, make_authority, make_signer
from simulators.counter.events import EventFactory
from simulators.counter.post import post_events
from tests.conftest import DATABASE_URL, KAFKA, free_port, poll, targets_file

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
VN = ZoneInfo("Asia/Ho_Chi_Minh")
ENV = {
    "SYNC_DOCSYS_TIMEOUT_SECONDS": "1",
    "SYNC_DOCSYS_POLL_SECONDS": "0.2",
    "SYNC_LEASE_SECONDS": "3",
    "SYNC_BACKOFF_BASE_SECONDS": "0.1",
    "SYNC_BACKOFF_CAP_SECONDS": "2",
    "SYNC_BREAKER_MAX_COOL_DOWN_SECONDS": "2",
    "DOCSYS_SIM_DELAY_MIN_SECONDS": "0.05",
    "DOCSYS_SIM_DELAY_MAX_SECONDS": "0.5",
}
FAULTS = {"fail_ratio": 0.3, "timeout_ratio": 0.02, "hang_seconds": 1.5, "rate_per_second": 500, "burst": 500}
# (unit, procedure whose result is an official document, how many dossiers)
DOCUMENT_DOSSIERS = [("H44.100", "1.004227", 25), ("H44.07", "1.001000", 15)]
PLAIN = ("H44.100", "1.001193", 10)  # birth registration: its result is not a document
SYSTEM = organ("H44", "Hệ thống thông tin giải quyết thủ tục hành chính tỉnh Phú Thọ")


@pytest.fixture
def stack(tmp_path, topics, schemas, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    running = Stack(
        run_dir=tmp_path / "run",
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        schema_prefix=schemas,
        ports={s.name: free_port() for s in SERVICES},
        docsys=True,
        extra_env={"metrics": {"METRICS_TARGETS_PATH": str(targets_file(tmp_path))}},
    )
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def dossier_events(received: datetime) -> tuple[list[dict], dict[str, str]]:
    f, events, units = EventFactory("motcua-test", seed=8), [], {}
    day = received.strftime("%y%m%d")
    for unit, procedure, count in [*DOCUMENT_DOSSIERS, PLAIN]:
        for n in range(count):
            code = f"{unit}-{day}-{n + 1 + (500 if procedure == PLAIN[1] else 0):04d}"
            units[code] = unit if procedure != PLAIN[1] else ""
            events += [
                f.received(code, received, unit=unit, procedure=procedure, channel=2),
                f.event("dossier.processed", code, received + timedelta(hours=20)),
                f.event("dossier.result_returned", code, received + timedelta(hours=26)),
            ]
    return events, {c: u for c, u in units.items() if u}


async def test_document_results_are_issued_numbered_and_counted_through_faults(stack, topics):
    received = datetime.now(VN).replace(microsecond=0) - timedelta(days=2)
    events, units = dossier_events(received)
    returned = sorted(units)[:2]
    headers = {"Authorization": f"Bearer {stack.reader_token}"}
    sim, sync = stack.url("docsys-simulator"), stack.url("sync")
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:
        await client.post(sim + "/admin/faults", json=FAULTS)
        await client.post(sim + "/admin/fates", json={"planned": dict.fromkeys(returned, "returned")})
        half = len(events) // 2
        assert (await post_events(stack.url("intake"), events[:half], rate=10_000))["accepted"] == half
        await client.post(sim + "/admin/faults", json=FAULTS | {"down_for_seconds": 3})
        assert (await post_events(stack.url("intake"), events[half:], rate=10_000))["accepted"] == len(events) - half

        async def both_returned():
            rows = {r["dossier_code"]: r for r in (await client.get(sync + "/v1/documents")).json()}
            return rows if all(rows.get(c, {}).get("state") == "refused" for c in returned) else None

        await poll(both_returned, 120, "the two planned requests were not refused")
        operator = {"Authorization": f"Bearer {stack.operator_token}"}
        resent = await client.post(sync + "/v1/documents/resend", json={"dossier_codes": returned}, headers=operator)
        assert resent.json() == {"resent": 2}

        async def all_issued():
            rows = (await client.get(sync + "/v1/documents")).json()
            return rows if len(rows) == len(units) and all(r["document"] for r in rows) else None

        rows = await poll(all_issued, 180, "not every dossier got its document")
        issued_after = time.monotonic() - started
        await client.post(sim + "/admin/faults", json={"rate_per_second": 500, "burst": 500})  # faults off

        # Every dossier whose result is a document has one number, numbered 1..n per unit and year.
        assert {r["dossier_code"] for r in rows} == set(units)
        per_unit = defaultdict(list)
        for r in rows:
            assert r["unit_code"] == units[r["dossier_code"]] and r["state"] == "issued"
            per_unit[r["unit_code"]].append(int(r["document"]["number"]))
            assert r["document"]["signer"] and r["document"]["file_bytes"] > 0
        expected = {u: list(range(1, c + 1)) for u, _, c in DOCUMENT_DOSSIERS}
        assert {u: sorted(n) for u, n in per_unit.items()} == expected
        assert {r["document"]["symbol"] for r in rows} == {"QĐ-UBND", "QĐ-SCT"}
        numbers = {r["dossier_code"]: r["document"]["code"] for r in rows}

        # Reconciliation: the document system holds every request, so nothing is sent again.
        period_days = {
            "from": (received - timedelta(days=1)).date().isoformat(),
            "to": (datetime.now(VN) + timedelta(days=1)).date().isoformat(),
        }
        reconciled = (await client.post(sync + "/v1/documents/reconcile", json=period_days, headers=operator)).json()
        assert reconciled == {"checked": len(units), "differences": 0, "requeued": 0, "unchecked": 0}

        # The dossier carries the number; its control sheet shows the document system's statuses.
        async def folded():
            states = [(await client.get(stack.url("processing") + f"/v1/dossiers/{c}")).json() for c in units]
            return states if all(s["state"]["document_number"] for s in states) else None

        states = await poll(folded, 60, "processing did not record every document number")
        assert {s["state"]["dossier_code"]: s["state"]["document_number"] for s in states} == numbers
        assert all(s["state"]["electronic_result"] for s in states)
        sheet = next(s for s in states if s["state"]["dossier_code"] == returned[0])["control_sheet"]
        assert [r["status"] for r in sheet if r.get("kind") == "document_status"].count("02") == 1

        # The indicators: every result that is a document came back through the document system.
        period = received.strftime("%Y-%m")

        async def counted():
            report = (
                await client.get(stack.url("metrics") + "/v1/indicators", params={"period": period, "unit": "H44"})
            ).json()
            rate = report["unit"]["rates"]["document_result_rate"]
            return report if rate["denominator"] == len(units) and rate["numerator"] == len(units) else None

        report = await poll(counted, 60, "metrics did not count every document result")
        targets = (await client.get(stack.url("metrics") + "/v1/targets", params={"period": period})).json()
        target = next(t for t in targets["targets"] if t["rate"] == "document_result_rate")
        assert target["target"] == 1.0 and target["met"] is True
        assert report["unit"]["rates"]["electronic_result_rate"]["numerator"] >= len(units)
        health = (await client.get(sim + "/health")).json()
        await check_rejections(client, stack, topics, rows)
        await check_recall(client, stack, rows[2])
    print(
        f"{len(units)} document results issued {issued_after:.1f}s after the first post; "
        f"simulator verdicts {health['verdicts']}, requests {health['requests']}"
    )


async def check_rejections(client: httpx.AsyncClient, stack: Stack, topics, rows: list[dict]) -> None:
    """Malformed, mismatched and badly signed envelopes: each rejected with its reason, on the API
    and the dead-letter topic."""
    sim, sync = stack.url("docsys-simulator"), stack.url("sync")
    first, second = rows[0], rows[1]
    pki = stack.run_dir / "pki"
    key = load_signing_key(pki / "docsys.key", pki / "docsys.pem")
    stranger = make_signer(make_authority("Another CA"), "Người lạ")

    async def request_id(answers: str) -> str:
        """The DocumentId of our signing request for this dossier, as the document system holds it."""
        found = await client.get(
            sim + "/edxml/requests", params={"organ": SYSTEM.id, "code": f"{answers}/{REQUEST_NOTATION}"}
        )
        return found.json()["document_id"]

    ids = {c: await request_id(c) for c in (first["dossier_code"], second["dossier_code"])}

    def issued(
        answers: str, unit: str = first["unit_code"], number: str = "999", signed_by=key, document_id: str = ""
    ) -> bytes:
        today = datetime.now(VN)
        asked = ids.get(answers, f"{SYSTEM.id},{today:%Y/%m/%d},{answers}/{REQUEST_NOTATION}")
        request = DocumentRef(SYSTEM.id, f"{answers}/{REQUEST_NOTATION}", today.date(), asked)
        return build_document(
            Document(
                sender=organ(unit),
                receivers=(SYSTEM,),
                number=number,
                notation="QĐ-UBND",
                place="Phú Thọ",
                promulgated_on=today.date(),
                type=DECISION_TYPE,
                subject="Quyết định cấp phép",
                signer=Signer("TM. Ủy ban nhân dân", "Chủ tịch", "Lê Quang Vinh"),
                response_for=(request,),
                traces=(Trace(organ(unit).id, today),),
                document_id=document_id,
            ),
            signed_by,
        )

    other = "H44.101" if first["unit_code"] != "H44.101" else "H44.102"
    own = first["dossier_code"]
    cases = {
        b"<edXML": "not well-formed",
        b"<?xml version='1.0'?><edXML xmlns='http://www.mic.gov.vn/TBT/QCVN_102_2016'/>": "not valid edXML",
        issued("H44.100-200101-9999"): "unknown dossier",
        issued(own, unit=other): "wrong unit",
        issued(
            second["dossier_code"], unit=second["unit_code"], document_id=first["document"]["document_id"]
        ): "duplicate document id",
        issued(own, signed_by=None): "unsigned",
        issued(own).replace("Quyết định cấp phép".encode(), "Quyết định cấp phéq".encode()): "tampered",
        issued(own, signed_by=stranger): "untrusted signer",
    }
    for envelope in cases:
        await client.post(sim + "/admin/inject", params={"organ": SYSTEM.id}, content=envelope)

    async def recorded():
        found = (await client.get(sync + "/v1/documents/rejections")).json()
        return found if len(found) >= len(cases) else None

    found = await poll(recorded, 30, "the broken envelopes were not all rejected")
    assert [any(reason in r["reason"] for r in found) for reason in cases.values()] == [True] * len(cases), found
    # Nothing else lost: every dossier still has its own document.
    after = {r["dossier_code"]: r["document"]["code"] for r in (await client.get(sync + "/v1/documents")).json()}
    assert after == {r["dossier_code"]: r["document"]["code"] for r in rows}
    consumer = AIOKafkaConsumer(topics.dead_letter, bootstrap_servers=KAFKA, auto_offset_reset="earliest")
    await consumer.start()
    try:
        letters = []
        deadline = time.monotonic() + 20
        while len(letters) < len(cases) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            letters += [json.loads(r.value) for rs in batch.values() for r in rs]
            letters = [v for v in letters if v.get("source") == "document-system"]
    finally:
        await consumer.stop()
    assert sorted(v["reason"] for v in letters) == sorted(r["reason"] for r in found)


async def check_recall(client: httpx.AsyncClient, stack: Stack, row: dict) -> None:
    """The issuer recalls one document (13, then 15 agreed): its number leaves the dossier, the
    control sheet shows the recall; sent again, the dossier gets a new document."""
    sim, sync, processing = stack.url("docsys-simulator"), stack.url("sync"), stack.url("processing")
    code, old = row["dossier_code"], row["document"]
    assert (await client.post(sim + "/admin/recall", json={"document_id": old["document_id"]})).status_code == 200

    async def withdrawn():
        state = (await client.get(processing + f"/v1/dossiers/{code}")).json()
        return state if state["state"]["document_number"] is None else None

    state = await poll(withdrawn, 30, "the recall did not withdraw the document")
    assert not state["state"]["electronic_result"]
    recall = [r for r in state["control_sheet"] if r.get("kind") == "document_status" and r["recall"]]
    assert [(r["status"], r["document_id"]) for r in recall] == [("15", old["document_id"])]
    held = (await client.get(sync + f"/v1/documents/{code}")).json()
    assert held["state"] == "recalled" and held["document"] is None and held["withdrawn"][0]["code"] == old["code"]

    operator = {"Authorization": f"Bearer {stack.operator_token}"}
    resent = await client.post(sync + "/v1/documents/resend", json={"dossier_codes": [code]}, headers=operator)
    assert resent.json() == {"resent": 1}

    async def reissued():
        state = (await client.get(processing + f"/v1/dossiers/{code}")).json()["state"]
        return state if state["document_number"] not in (None, old["code"]) else None

    state = await poll(reissued, 60, "no new document after the recall")
    assert state["electronic_result"]
