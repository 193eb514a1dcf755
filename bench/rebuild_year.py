"""`--rebuild-year`: rebuilding the metrics projection from topics holding a province-month and a
province-year, as a compacted lifecycle topic holds them.

Each size gets its own topics: the lifecycle topic (cleanup.policy=compact) holds one newest state
per dossier, as the log cleaner leaves it, plus an uncompacted tail (the last 5% of dossiers with
three older revisions each, delivered before their newest); the portal-sync topic one ok outcome per
dossier. The messages are processing's and sync's wire form (serialize), so the rebuild takes the
same parsing path as live. Baseline in the same run: a raw consumer reading and JSON-parsing the
very same messages (the least any rebuild that looks inside them must do).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.baselines import raw_consume
from bench.queries import say
from bench.workload import DATABASE_URL, KAFKA, PARTITIONS, Run
from services.metrics.config import MetricsSettings
from services.metrics.rebuild import rebuild
from shared.event_types import DossierState, ProcedureFacts, SyncOutcome
from shared.events import make_event, serialize
from shared.kafka import make_producer
from shared.topics import Topics, ensure_topics
from shared.units import load_units

SIZES = {"month": 185_000, "year": 2_200_000}
TAIL, TAIL_REVISIONS = 0.05, 3
CODE = "H44.999-310101-999999"  # placeholders, replaced per dossier


def templates() -> tuple[bytes, bytes]:
    """One state and one sync outcome in the wire form, with placeholders to fill per dossier."""
    state = DossierState(
        dossier_code=CODE,
        unit_code="H44.999",
        procedure_code="1.001193",
        channel=2,
        status=10,
        revision=7777777,
        received_at=datetime(2031, 1, 1, tzinfo=UTC),
        due_at=datetime(2031, 1, 15, 10, tzinfo=UTC),
        end_at=datetime(2031, 1, 9, tzinfo=UTC),
        on_time=True,
        deadline_at=datetime(2031, 1, 15, 10, tzinfo=UTC),
        has_fee=True,
        paid_online=True,
        components=2,
        components_digitized=2,
        result_digitized=True,
        electronic_result=True,
        uses_population_data=True,
        procedure=ProcedureFacts(
            name="Đăng ký khai sinh",
            field="Hộ tịch",
            online="full",
            has_fee=False,
            online_payment=False,
            fee_data_synced=False,
            population_data_connected=True,
        ),
    )
    now = datetime(2031, 2, 1, tzinfo=UTC)
    envelope = make_event(
        event_id=f"{CODE}:r7777777", type="dossier.state", source="processing", subject=CODE, time=now, data={}
    )
    synced = make_event(
        event_id=f"{CODE}:s7777777",
        type="dossier.synced",
        source="sync",
        subject=CODE,
        time=now,
        data=SyncOutcome(status=10, revision=7777777, ok=True),
    )
    return serialize(envelope, state.model_dump_json().encode()), serialize(synced)


def messages(dossiers: int, start: datetime):
    """(topic kind, key, value) in production order: tail revisions before their newest state."""
    state, synced = templates()
    units = [u.code for u in load_units().units.values() if u.parent is not None]
    step = timedelta(days=365) / 2_200_000
    tail_from = int(dossiers * (1 - TAIL))
    for i in range(dossiers):
        received, unit = start + i * step, units[i % len(units)]
        key = f"{unit}-{received:%y%m%d}-{i % 1_000_000:06d}".encode()  # unique: i and i + 10^6 are months apart
        fill = (
            state.replace(CODE.encode(), key)
            .replace(b'"H44.999"', f'"{unit}"'.encode())
            .replace(b"2031-01-01T00:00:00Z", received.strftime("%Y-%m-%dT%H:%M:%SZ").encode())
        )
        if i >= tail_from:
            for revision in range(1, TAIL_REVISIONS + 1):
                yield "lifecycle", key, fill.replace(b"7777777", str(revision).encode())
        yield "lifecycle", key, fill.replace(b"7777777", b"6")
        yield "portal_sync", key, synced.replace(CODE.encode(), key).replace(b"7777777", b"6")


async def produce(topics: Topics, dossiers: int) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    topics.lifecycle,
                    num_partitions=PARTITIONS,
                    replication_factor=1,
                    topic_configs={"cleanup.policy": "compact"},
                )
            ]
        )
    finally:
        await admin.close()
    await ensure_topics(KAFKA, topics, PARTITIONS)
    producer = make_producer(KAFKA)
    await producer.start()
    names = {"lifecycle": topics.lifecycle, "portal_sync": topics.portal_sync}
    sent, started = 0, time.perf_counter()
    try:
        pending = []
        for kind, key, value in messages(dossiers, datetime(2025, 1, 1, tzinfo=UTC)):
            pending.append(await producer.send(names[kind], value, key=key))
            sent += 1
            if len(pending) >= 20_000:
                for future in pending:
                    await future
                pending = []
        for future in pending:
            await future
    finally:
        await producer.stop()
    return {"messages": sent, "seconds": round(time.perf_counter() - started, 1)}


async def rebuild_year(run: Run) -> dict:
    results = {}
    for name, dossiers in SIZES.items():
        topics = Topics(f"{run.id}.{name}.")
        say(f"rebuild, {name}: producing {dossiers:,} dossiers' compacted lifecycle and sync outcomes")
        produced = await produce(topics, dossiers)
        partitions = [TopicPartition(t, p) for t in (topics.lifecycle, topics.portal_sync) for p in range(PARTITIONS)]
        say(f"  {produced}; raw consume + JSON parse of the same messages")
        parsed = await raw_consume(partitions, produced["messages"], timeout=1800, parse=True)
        say(f"  {parsed['per_second']:,.0f} messages/s; rebuilding")
        settings = MetricsSettings(
            database_url=DATABASE_URL,
            kafka_bootstrap=KAFKA,
            topic_prefix=topics.prefix,
            db_schema=f"{run.schemas}{name}_metrics",
        )
        rebuilt = await rebuild(settings)
        assert rebuilt["dossiers"] == dossiers, rebuilt
        results[name] = {
            "dossiers": dossiers,
            "produced": produced,
            "raw_consume_and_parse": parsed,
            "rebuild": rebuilt,
            "seconds_per_million": rebuilt["seconds"] / dossiers * 1e6,
            "ratio_to_raw": rebuilt["seconds"] / parsed["seconds"],
        }
        say(
            f"  rebuilt in {rebuilt['seconds']} s ({results[name]['seconds_per_million']:.1f} s per million "
            f"dossiers; reading {rebuilt['read_seconds']} s), {results[name]['ratio_to_raw']:.1f}x the raw read"
        )
    return results


def table(results: dict) -> str:
    lines = [
        f"{'rebuild':<8}{'dossiers':>11}{'messages':>11}{'seconds':>9}{'s/million':>11}"
        f"{'raw+parse s':>13}{'ratio':>7}  target"
    ]
    for name, r in results.items():
        target = "< 180 s" if name == "year" else ""
        lines.append(
            f"{name:<8}{r['dossiers']:>11,}{r['rebuild']['messages']:>11,}{r['rebuild']['seconds']:>9.1f}"
            f"{r['seconds_per_million']:>11.1f}{r['raw_consume_and_parse']['seconds']:>13.1f}"
            f"{r['ratio_to_raw']:>6.1f}x  {target}"
        )
    return "\n".join(lines)
