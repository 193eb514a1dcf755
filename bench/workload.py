"""The bench's run: unique topics and schemas, the broker and database it uses, and its events."""

from __future__ import annotations

import json
import os
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events import parse_event, serialize
from shared.topics import Topics
from shared.units import load_units
from simulators.counter.generator import DossierGenerator

KAFKA = os.environ.get("BENCH_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://dossier:dossier@127.0.0.1:55432/dossier")
PARTITIONS = 4  # as the demo creates them (python -m shared.topics)


@dataclass
class Run:
    """One bench run's names: everything it creates carries its id and is removed at the end."""

    id: str = field(default_factory=lambda: "b" + uuid.uuid4().hex[:10])

    @property
    def topics(self) -> Topics:
        return Topics(f"{self.id}.")

    @property
    def raw_topic(self) -> str:
        return f"{self.id}.raw-baseline"

    @property
    def schemas(self) -> str:
        """Prefix of the services' schemas (intake, processing, sync, metrics)."""
        return f"{self.id}_"

    @property
    def rebuild_schemas(self) -> str:
        return f"{self.id}_rb_"

    @property
    def scratch_schema(self) -> str:
        return f"{self.id}_scratch"

    async def cleanup(self, db: AsyncEngine) -> None:
        """Delete this run's topics and drop its schemas (all start with the run id)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            mine = [t for t in existing if t.startswith(f"{self.id}.")]
            if mine:
                await admin.delete_topics(mine)
        finally:
            await admin.close()
        async with db.begin() as conn:
            names = await conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": self.id + "\\_%"}
            )
            for (name,) in names.all():
                await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))


class Workload:
    """Realistic dossiers from the simulator's generator; one instance keeps dossier codes unique."""

    def __init__(self, seed: int = 2026):
        self.units = load_units()
        self.generator = DossierGenerator(self.units, seed=seed)
        self._rng = random.Random(seed)
        self._units = self.generator.communes + self.generator.departments
        self._procedures = {lvl: [p["code"] for p in ps] for lvl, ps in self.generator.procedures.items()}

    def history(self, dossiers: int, days: int = 30) -> list[dict]:
        """Every event that has already happened for `dossiers` dossiers received in the last days."""
        now = datetime.now(UTC)
        batch = self.generator.dossiers(dossiers, now - timedelta(days=days), now)
        events = [e for d in batch for e in d if datetime.fromisoformat(e["time"]) <= now]
        return sorted(events, key=lambda e: e["time"])

    def received_now(self, count: int) -> list[dict]:
        """`dossier.received` events for new dossiers, stamped now (for freshness)."""
        now = datetime.now(UTC)
        out = []
        for _ in range(count):
            unit = self._rng.choice(self._units)
            level = "COMMUNE" if unit in self.generator.communes else "PROVINCE"
            code = self.generator.dossier_code(unit, now)
            out.append(
                self.generator.events.received(
                    code, now, unit=unit, procedure=self._rng.choice(self._procedures[level]), channel=2
                )
            )
        return out


def wire_form(events: list[dict]) -> list[tuple[bytes, bytes]]:
    """(key, value) exactly as intake's relay publishes each event."""
    return [(e["subject"].encode(), serialize(parse_event(e))) for e in events]


def batch_bodies(events: list[dict], size: int) -> list[bytes]:
    """JSON bodies for POST /v1/events/batch, encoded once, before any clock starts."""
    return [json.dumps(events[i : i + size]).encode() for i in range(0, len(events), size)]
