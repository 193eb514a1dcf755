"""The cluster chaos scenario, shared by the CI test (tests/chaos/test_cluster_chaos.py) and the
longer run of `./bench.sh --cluster`.

A three-node Kafka cluster (deploy/cluster.py; topics replicated three times, min.insync.replicas
2) and two instances of every service (deploy.launch.Stack(replicas=2)); the counter simulator
posts its generated dossiers over both intakes, paced, re-posting on the other instance when one
fails. Meanwhile, at seeded moments: kill -9 the node leading most of the project's partitions,
restart it later; kill -9 one instance of each service and restart it. The portal simulator
stores some calls and then fails them (500) and answers every call after a short latency.

Afterwards everything is compared with the truth (tests/chaos/truth.py). Measured on the way:
processing's pause (the longest time its stored offsets did not move while posting went on)
after each kill, and the freshness (dossier first acknowledged by intake → visible in metrics)
p99 of the dossiers first posted in the 15 s after each kill, against the rest.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.cluster import KafkaCluster, leaders
from deploy.launch import Stack, free_port
from deploy.quiescence import wait_until_quiet
from shared.topics import Topics, TopicSettings, ensure_topics
from shared.units import load_units
from simulators.counter.generator import DossierGenerator
from tests.chaos import truth as check

VN = ZoneInfo("Asia/Ho_Chi_Minh")
KILLED = ("intake", "processing", "sync", "metrics")
SYNC_ENV = {
    "SYNC_PORTAL_TIMEOUT_SECONDS": "2",
    "SYNC_LEASE_SECONDS": "6",
    "SYNC_BACKOFF_BASE_SECONDS": "0.1",
    "SYNC_BACKOFF_CAP_SECONDS": "2",
    "SYNC_BREAKER_MAX_COOL_DOWN_SECONDS": "2",
    "SYNC_PORTAL_CHUNK": "25",
}  # many calls, so that the portal's faults surely strike
PORTAL_FAULTS = {
    "stored_fail_ratio": 0.05,
    "fail_ratio": 0.02,
    "latency_seconds": 0.02,
    "rate_per_second": 1000,
    "burst": 1000,
}
WINDOW = 15.0  # seconds after a kill whose events count as "during" it
# Three copies, two in sync for a write to be acknowledged; the services are told so and refuse to
# start on weaker topics.
REPLICATED = TopicSettings(kafka_replication_factor=3, kafka_min_insync_replicas=2)
REPLICATED_ENV = {"KAFKA_REPLICATION_FACTOR": "3", "KAFKA_MIN_INSYNC_REPLICAS": "2"}


@dataclass
class Settings:
    seed: int
    dossiers: int = 300
    post_seconds: float = 30.0
    partitions: int = 4
    inject_loss: bool = False  # processing drops one record (FAULT_DROP_ONE): the run must fail


@dataclass
class Run:
    settings: Settings
    database_url: str
    prefix: str  # topics and schemas
    work: Path
    acked: dict[str, dict] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    # Freshness of every acknowledged event: dossier → [(events of it acknowledged so far, when)];
    # the event is visible once metrics holds a revision at least that high (a state's revision
    # counts the events folded into it).
    waiting: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    acked_count: dict[str, int] = field(default_factory=dict)
    freshness: list[tuple[float, float]] = field(default_factory=list)  # (acknowledged at, seconds to visible)
    # (time, {partition: processing's stored next offset})
    progress: list[tuple[float, dict[tuple[str, int], int]]] = field(default_factory=list)
    journal: list[tuple[float, str]] = field(default_factory=list)  # (time, what chaos did)

    def say(self, what: str) -> None:
        self.journal.append((time.monotonic(), what))
        print(f"[cluster chaos {time.strftime('%H:%M:%S')}] {what}", flush=True)


def generated_events(settings: Settings) -> list[dict]:
    generator = DossierGenerator(load_units(), seed=settings.seed % 1000)
    start, end = datetime(2026, 8, 1, tzinfo=VN), datetime(2026, 8, 29, tzinfo=VN)
    now = datetime.now(VN)
    events = (
        e
        for d in generator.dossiers(settings.dossiers, start, end)
        for e in d
        if datetime.fromisoformat(e["time"]) <= now
    )
    return sorted(events, key=lambda e: e["time"])


def plan(settings: Settings, rng: random.Random) -> list[tuple[float, str, str]]:
    """(seconds after the start of posting, action, target), in time order: the broker's loss
    first, then one instance of each service in a seeded order, spaced so that each kill's
    figures are its own (a restart under load takes several seconds)."""
    t = settings.post_seconds
    down = rng.uniform(0.05, 0.15) * t
    steps = [(down, "kill-broker", "leader"), (down + rng.uniform(0.15, 0.2) * t, "restart-broker", "")]
    order = rng.sample(KILLED, len(KILLED))
    slot = 0.6 * t / len(order)
    for i, service in enumerate(order):
        instance = rng.choice([service, f"{service}.2"])
        steps.append((0.4 * t + (i + rng.uniform(0.0, 0.3)) * slot, "kill", instance))
    return steps


# --- load: a counter system that spreads its posts over both intakes ----------------------------


async def post_load(run: Run, stack: Stack, events: list[dict], batch: int = 100) -> None:
    chunks = [events[i : i + batch] for i in range(0, len(events), batch)]
    intakes = stack.instances("intake")
    started = time.monotonic()
    deadline = started + run.settings.post_seconds + 240
    headers = {"X-API-Key": stack.api_key}
    async with httpx.AsyncClient(timeout=15, headers=headers) as client:
        for i, chunk in enumerate(chunks):
            delay = started + i * run.settings.post_seconds / len(chunks) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await _post_until_acknowledged(run, client, [stack.url(n) for n in intakes], i, chunk, deadline)


async def _post_until_acknowledged(
    run: Run, client: httpx.AsyncClient, urls: list[str], turn: int, chunk: list[dict], deadline: float
) -> None:
    """Round robin over the intakes; a failed post goes to the other one (re-posting is
    idempotent on event ids)."""
    attempt = 0
    while time.monotonic() < deadline:
        url = urls[(turn + attempt) % len(urls)]
        attempt += 1
        try:
            response = await client.post(url + "/v1/events/batch", json=chunk)
        except httpx.HTTPError:
            await asyncio.sleep(0.2)  # that instance is down: try the other
            continue
        if response.status_code in (200, 207, 422):
            now = time.monotonic()
            for item in response.json()["results"]:
                event = chunk[item["index"]]
                if item["status"] in ("accepted", "duplicate"):
                    if event["id"] not in run.acked:
                        code = event["subject"]
                        run.acked_count[code] = run.acked_count.get(code, 0) + 1
                        run.waiting.setdefault(code, []).append((run.acked_count[code], now))
                    run.acked[event["id"]] = event
                else:
                    run.refused[event["id"]] = str(item)[:300]
            return
        await asyncio.sleep(float(response.headers.get("Retry-After", "0.3")) if response.status_code == 429 else 0.3)
    raise TimeoutError("no intake acknowledged a batch")


# --- watching: processing's progress and the dossiers' freshness ----------------------------------


async def watch(run: Run, stop: asyncio.Event) -> None:
    url = run.database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(url)
    offsets = f'SELECT topic, partition, next_offset FROM "{run.prefix}processing".consumer_offsets'
    facts = (
        f'SELECT dossier_code, revision FROM "{run.prefix}metrics".dossier_facts WHERE dossier_code = ANY($1::text[])'
    )
    try:
        while not stop.is_set():
            asked = time.monotonic()
            try:
                rows = await conn.fetch(offsets)
                run.progress.append((asked, {(r[0], r[1]): r[2] for r in rows}))
                if run.waiting:
                    for code, revision in await conn.fetch(facts, list(run.waiting)):
                        pending = run.waiting.get(code, [])
                        run.freshness += [(at, asked - at) for n, at in pending if n <= revision]
                        if rest := [(n, at) for n, at in pending if n > revision]:
                            run.waiting[code] = rest
                        else:
                            run.waiting.pop(code, None)
            except asyncpg.UndefinedTableError:
                pass  # the services are still creating their schemas
            await asyncio.sleep(0.2)  # sampling interval
    finally:
        await conn.close()


def figures(run: Run, posting: tuple[float, float]) -> dict:
    """After each kill: the longest time one of processing's partitions stood still while posting
    went on (each partition receives events all along), and the freshness p99 of the events
    acknowledged in the window; beside the p99 of the events outside every window."""

    def pause_after(t: float, until: float) -> float:
        samples = [(s, v) for s, v in run.progress if t - 1 <= s <= min(until, posting[1])]
        longest = 0.0
        for partition in {p for _, v in samples for p in v}:
            since, last = samples[0][0], samples[0][1].get(partition)
            for s, v in samples:
                if v.get(partition) != last:
                    since, last = s, v.get(partition)
                longest = max(longest, s - since)
        return round(longest, 1)

    def p99(latencies: list[float]) -> float | None:
        lat = sorted(latencies)
        return round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2) if lat else None

    kills = [(t, what) for t, what in run.journal if what.startswith("kill")]
    out: dict = {"kills": {}}
    windows = []
    for (t, what), (after, _) in zip(kills, [*kills[1:], (float("inf"), "")], strict=True):
        until = min(t + WINDOW, after)  # up to the next kill, so each figure is its own
        windows.append((t, until))
        inside = [lat for at, lat in run.freshness if t <= at <= until]
        out["kills"][what] = {
            "processing_pause_s": pause_after(t, until),
            "freshness_p99_s": p99(inside),
            "events": len(inside),
            "window_s": round(until - t, 1),
        }
    calm = [lat for at, lat in run.freshness if not any(a <= at <= b for a, b in windows)]
    out["baseline"] = {
        "freshness_p99_s": p99(calm),
        "events": len(calm),
        "never_visible": sum(map(len, run.waiting.values())),
    }
    return out


# --- chaos (a thread: the launcher and the cluster's process control are blocking) ---------------


def run_chaos(
    run: Run,
    stack: Stack,
    cluster: KafkaCluster,
    topics: Topics,
    steps,
    started: float,
    stop: threading.Event,
    rng: random.Random,
) -> None:
    for at, action, target in steps:
        if stop.wait(max(0.0, started + at - time.monotonic())):
            return
        if action == "kill-broker":
            counts = asyncio.run(leaders(cluster.bootstrap, topics.all()))
            node = max(counts, key=counts.get)
            run.say(f"kill -9 broker {node} (leads {counts[node]} of {sum(counts.values())} partitions)")
            cluster.kill(node)
            target_node = node
        elif action == "restart-broker":
            cluster.restart(target_node)
            run.say(f"broker {target_node} restarted")
        else:
            run.say(f"kill -9 {target}")
            stack.stop(target, signal.SIGKILL)
            time.sleep(rng.uniform(0.5, 2.0))  # down for a moment while load goes on
            stack.start(target)
            stack.wait_ready(target, 180)
            run.say(f"{target} restarted")


async def run_cluster_chaos(settings: Settings, work: Path, database_url: str, prefix: str) -> dict:
    """The whole scenario; raises AssertionError when the system differs from the truth."""
    rng = random.Random(settings.seed)
    steps = plan(settings, rng)
    events = generated_events(settings)
    print(
        f"cluster chaos seed {settings.seed}: {settings.dossiers} dossiers, {len(events)} events over "
        f"{settings.post_seconds:.0f}s; plan {[(round(a, 1), b, c) for a, b, c in steps]}",
        flush=True,
    )
    run = Run(settings, database_url, prefix, work)
    cluster = KafkaCluster(var=work / "cluster", ports=[free_port() for _ in range(6)])
    topics = Topics(f"{prefix}.")
    stack = Stack(
        run_dir=work / "run",
        database_url=database_url,
        kafka_bootstrap=cluster.bootstrap,
        topic_prefix=topics.prefix,
        schema_prefix=prefix,
        replicas=2,
        extra_env={name: dict(REPLICATED_ENV) for name in KILLED},
    )
    stack.extra_env["sync"] |= SYNC_ENV
    if settings.inject_loss:
        stack.extra_env["processing"]["FAULT_DROP_ONE"] = "1"
    stack.ports = {name: free_port() for name in stack.all_instances()}
    db = create_async_engine(database_url)
    stop_chaos, stop_watch = threading.Event(), asyncio.Event()
    try:
        await asyncio.to_thread(cluster.start)
        assert await ensure_topics(cluster.bootstrap, topics, settings.partitions, settings=REPLICATED) == []
        await asyncio.to_thread(stack.start_all)
        async with httpx.AsyncClient(timeout=10) as client:
            (await client.post(stack.url("portal-simulator") + "/admin/faults", json=PORTAL_FAULTS)).raise_for_status()
        watcher = asyncio.create_task(watch(run, stop_watch))
        started = time.monotonic()
        chaos = asyncio.create_task(
            asyncio.to_thread(run_chaos, run, stack, cluster, topics, steps, started, stop_chaos, rng)
        )
        try:
            await post_load(run, stack, events)
            posted = time.monotonic()
            await chaos
            for node in cluster.nodes:  # every broker back before judging
                if not cluster.alive(node):
                    await asyncio.to_thread(cluster.restart, node.node_id)
            await wait_until_quiet(db, cluster.bootstrap, topics, prefix, timeout=240)
            quiet = time.monotonic()
        finally:
            stop_chaos.set()
            if not chaos.done():
                await asyncio.wait([chaos], timeout=300)
            stop_watch.set()
            await watcher
        truth = check.Truth(events)
        check.acknowledged_all(truth, run.acked, run.refused)
        async with db.connect() as conn:
            await check.check_processing(conn, f"{prefix}processing", truth)
            await check.check_metrics(conn, f"{prefix}metrics", truth)
        portal = await check.check_portal(stack.url("portal-simulator"), truth)
        letters = check.consumer_failures(await check.read_to_end(cluster.bootstrap, topics.dead_letter))
        assert not letters, f"{len(letters)} records a consumer could not apply: {letters[:2]}"
        assert "stored_fail" in portal["verdicts"], f"the portal's faults never struck: {portal['verdicts']}"
        result = {
            "seed": settings.seed,
            "dossiers": len(truth.states),
            "events": len(events),
            "posting_s": round(posted - started, 1),
            "quiet_after_s": round(quiet - posted, 1),
            "portal": {k: portal[k] for k in ("calls", "verdicts")},
            **figures(run, (started, posted)),
        }
        print(f"cluster chaos seed {settings.seed}: {result}", flush=True)
        return result
    finally:
        stop_chaos.set()
        for name in list(stack.processes):
            stack.stop(name, signal.SIGKILL)
        await db.dispose()
        await asyncio.to_thread(cluster.stop, True)


def settings_from_env(**defaults) -> Settings:
    seed = int(os.environ.get("CLUSTER_CHAOS_SEED", str(defaults.pop("seed", random.randrange(1 << 30)))))
    return Settings(
        seed=seed,
        dossiers=int(os.environ.get("CLUSTER_CHAOS_DOSSIERS", defaults.get("dossiers", 300))),
        post_seconds=float(os.environ.get("CLUSTER_CHAOS_SECONDS", defaults.get("post_seconds", 30))),
        inject_loss=os.environ.get("CLUSTER_CHAOS_INJECT_LOSS") == "1",
    )
