"""Per-dossier data needs a reader token (shared/auth.py); aggregates stay public by configuration."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from fastapi import FastAPI

from services.processing.app import create_app as create_processing
from services.processing.config import ProcessingSettings
from shared.auth import AggregateReaderDep, ReaderDep, new_token, token_matches
from tests.conftest import DATABASE_URL, KAFKA

TOKEN = "reader-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def tiny_app() -> FastAPI:
    app = FastAPI()

    @app.get("/dossier")
    async def dossier(reader: ReaderDep) -> dict:
        return {"who": reader.name, "units": list(reader.units)}

    @app.get("/aggregate")
    async def aggregate(reader: AggregateReaderDep) -> dict:
        return {"who": reader}

    return app


async def get(app: FastAPI, path: str, headers: dict | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.get(path, headers=headers or {})


@pytest.fixture
def reader_env(monkeypatch):
    other = hashlib.sha256(b"another reader").hexdigest()
    monkeypatch.setenv("READER_TOKEN_SHA256", f"{other}, {hashlib.sha256(TOKEN.encode()).hexdigest()}")


async def test_a_reader_route_needs_a_configured_token(reader_env):
    app = tiny_app()
    assert (await get(app, "/dossier")).status_code == 401
    assert (await get(app, "/dossier", {"Authorization": "Bearer wrong"})).headers["WWW-Authenticate"] == "Bearer"
    assert (await get(app, "/dossier", {"Authorization": f"Basic {TOKEN}"})).status_code == 401
    assert (await get(app, "/dossier", BEARER)).json() == {"who": "reader (READER_TOKEN_SHA256)", "units": ["H44"]}
    assert (await get(app, "/aggregate")).json() == {"who": "public"}


async def test_anonymous_aggregate_reads_are_limited_per_address_and_readers_are_not(reader_env, monkeypatch):
    monkeypatch.setenv("READER_PUBLIC_RATE_PER_SECOND", "0.5")
    monkeypatch.setenv("READER_PUBLIC_BURST", "2")
    app = tiny_app()
    answers = [await get(app, "/aggregate") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"] == "2" and "reader token" in answers[2].json()["detail"]
    assert [(await get(app, "/aggregate", BEARER)).json() for _ in range(3)] == [{"who": "reader"}] * 3
    # A wrong token is anonymous: limited like no token at all.
    assert (await get(app, "/aggregate", {"Authorization": "Bearer wrong"})).status_code == 429


async def test_aggregates_can_be_made_private_and_unconfigured_readers_fail_closed(reader_env, monkeypatch):
    monkeypatch.setenv("READER_PUBLIC_AGGREGATES", "false")
    app = tiny_app()
    assert (await get(app, "/aggregate")).status_code == 401
    assert (await get(app, "/aggregate", BEARER)).status_code == 200
    monkeypatch.delenv("READER_TOKEN_SHA256")
    unconfigured = tiny_app()
    assert (await get(unconfigured, "/dossier", BEARER)).status_code == 503


def test_new_tokens_match_their_digest_only():
    token, digest = new_token()
    assert token_matches(token, ["0" * 64, digest]) and not token_matches(token + "x", [digest])


@pytest.mark.integration
async def test_processing_serves_dossiers_and_anomalies_to_readers_only(reader_env, topics, schemas):
    app = create_processing(
        ProcessingSettings(
            database_url=DATABASE_URL,
            kafka_bootstrap=KAFKA,
            topic_prefix=topics.prefix,
            db_schema=f"{schemas}processing",
        )
    )
    async with app.router.lifespan_context(app):
        for path in ("/v1/dossiers/H44.100-260801-0001", "/v1/anomalies"):
            assert (await get(app, path)).status_code == 401
            assert (await get(app, path, {"Authorization": "Bearer nope"})).status_code == 401
        assert (await get(app, "/v1/dossiers/H44.100-260801-0001", BEARER)).status_code == 404
        assert (await get(app, "/v1/anomalies", BEARER)).json() == []
        assert (await get(app, "/v1/procedures")).status_code == 200  # the catalog is public


@pytest.mark.integration
async def test_only_operators_change_the_procedure_catalog(reader_env, monkeypatch, topics, schemas):
    operator = "operator-test-token"
    monkeypatch.setenv("READER_OPERATOR_TOKEN_SHA256", hashlib.sha256(operator.encode()).hexdigest())
    app = create_processing(
        ProcessingSettings(
            database_url=DATABASE_URL,
            kafka_bootstrap=KAFKA,
            topic_prefix=topics.prefix,
            db_schema=f"{schemas}processing",
        )
    )
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            procedure = (await client.get("/v1/procedures")).json()[0] | {"name": "Tên thủ tục đã sửa"}
            path = f"/v1/procedures/{procedure['code']}"
            assert (await client.put(path, json=procedure)).status_code == 401
            assert (await client.put(path, json=procedure, headers=BEARER)).status_code == 401  # a reader
            changed = await client.put(path, json=procedure, headers={"Authorization": f"Bearer {operator}"})
            assert changed.status_code == 200
            catalog = {p["code"]: p for p in (await client.get("/v1/procedures")).json()}
            assert catalog[procedure["code"]]["name"] == "Tên thủ tục đã sửa"
