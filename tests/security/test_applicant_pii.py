"""A citizen's identity number and name never leave intake in clear: not on the topic, not in
intake's tables (inbox and outbox), not echoed in error answers. Real broker and database."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from tests.conftest import KAFKA
from tests.intake.harness import APPLICANT_KEY, client, new_key, received, running_intake

pytestmark = pytest.mark.integration
CCCD, NAME = "001012345645", "Nguyễn Văn A"


def with_applicant(code: str, type: str = "dossier.received", **applicant) -> dict:
    event = received(code, applicant={"id_number": CCCD, "name": NAME, **applicant})
    if type == "dossier.submitted":
        event["type"], event["data"] = type, {k: v for k, v in event["data"].items() if k != "channel"}
    return event


async def topic_messages(topic: str, count: int, timeout_ms: int = 20_000) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest")
    await consumer.start()
    try:
        values: list[bytes] = []
        while len(values) < count:
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            if not batch:
                break
            values += [r.value for rs in batch.values() for r in rs]
        return values
    finally:
        await consumer.stop()


async def test_the_identity_number_and_name_never_reach_the_topic_or_intakes_tables(topics, schemas, db):
    events = [with_applicant("H44.100-260820-0001"), with_applicant("H44.101-260820-0001", "dossier.submitted")]
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "simulator", ["H44"])
        async with client(app, key) as c:
            posted = await c.post("/v1/events/batch", json=events)
            assert posted.status_code == 200, posted.text
            again = await c.post("/v1/events/batch", json=events)  # the pseudonym is stable
            assert again.json()["duplicates"] == 2
        published = await topic_messages(topics.dossier_events, 2)
    assert len(published) == 2
    async with db.connect() as conn:
        stored = (await conn.execute(text(f'SELECT body::text FROM "{schemas}intake".accepted_events'))).scalars().all()
        outbox = (await conn.execute(text(f'SELECT value FROM "{schemas}intake".outbox'))).scalars().all()
    assert len(stored) == 2
    expected = hmac.new(APPLICANT_KEY.encode(), CCCD.encode(), hashlib.sha256).hexdigest()
    for blob in [*published, *(s.encode() for s in stored), *outbox]:
        text_ = blob.decode()
        assert CCCD not in text_ and NAME not in text_ and "Nguy" not in text_ and "id_number" not in text_
        assert f'"id_hash":"{expected}"' in text_.replace(" ", "")
        assert '"id_masked":"********5645"' in text_.replace(" ", "")  # at most the last 4 digits


async def test_a_malformed_applicant_is_named_without_echoing_the_number(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "simulator", ["H44"])
        async with client(app, key) as c:
            short = await c.post("/v1/events", json=with_applicant("H44.100-260821-0001", id_number="00101234564"))
            forged = await c.post(
                "/v1/events",
                json=received("H44.100-260821-0002", applicant={"id_hash": "0" * 64, "id_masked": "********5645"}),
            )
    assert short.status_code == 422
    assert [e["field"] for e in short.json()["detail"]] == ["data.applicant.id_number"]
    assert "00101234564" not in short.text and NAME not in short.text
    # Counters send the number; only intake makes pseudonyms.
    assert forged.status_code == 422
    assert {e["field"] for e in forged.json()["detail"]} >= {"data.applicant.id_number", "data.applicant.id_hash"}
