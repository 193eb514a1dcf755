"""`--queries`: what a dashboard waits for, on a database holding years of a province's dossiers.

The facts are generated in PostgreSQL (generate_series: ~2.2 million dossiers per province-year,
docs/domain.md's 185,000 a month), with portal sync facts, and the rollups are built from them as a
rebuild does. A metrics process then answers `/v1/indicators` for H44 (its children, the previous
period and the 766 index: one request) 200 times per period, a month, a year and a ten-year range.
The same-run baseline is what the endpoint did before the rollups: the counts aggregated from the
facts table (period and previous period). Last, the dashboard's first paint with every panel, in
headless Chromium.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.baselines import summarize
from bench.pipeline import BenchStack
from bench.workload import DATABASE_URL, KAFKA, PARTITIONS, Run
from deploy.launch import free_port
from services.metrics.aggregates import count_from_facts
from services.metrics.periods import TZ, date_range, parse_period
from services.metrics.rollups import rebuild_rollups
from shared.db import make_engine, make_sessionmaker
from shared.migrations import prepare_schema, upgrade_schema
from shared.topics import ensure_topics
from shared.units import load_units

PER_YEAR = 2_200_000
REQUESTS = 200
CATALOG = Path(__file__).resolve().parents[1] / "services" / "processing" / "data" / "procedures.json"
CHROMIUM = "/usr/bin/chromium"


def generate_sql() -> str:
    """One statement per half province-year; received_at grows with i, so the primary key is appended
    to. The facts of dossiers $1..$2, received evenly from $4 over $5 seconds, due at 17:00 of the
    14th day (docs/domain.md: the due moment is 17:00), open while their deadline is after $6 and, for
    one in two, ten days more."""
    return """
INSERT INTO dossier_facts (dossier_code, revision, unit_code, procedure_code, channel, status, received_at,
    due_at, on_time, deadline_at, digitized, electronic_result, document_expected, document_result, reused,
    personal_store, population_data, has_fee, paid_online, feedback, feedback_on_time, feedback_satisfied,
    disliked, proc_field, proc_online, proc_has_fee, proc_online_payment, proc_fee_synced, proc_population,
    fee_owed, online_counted, fee_data, handling_time, time_unit)
SELECT 'H44-' || to_char(rec AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYMMDD') || '-' || lpad(i::text, 9, '0'),
       6, ($3::text[])[u], ($7::text[])[p], ch, CASE WHEN open THEN 4 ELSE 10 END, rec, deadline,
       CASE WHEN open THEN NULL ELSE r1 < 0.85 END, deadline,
       r2 < 0.4, r3 < 0.7, r4 < 0.2, r4 < 0.18, r5 < 0.1, r6 < 0.3, r7 < 0.5, fee, fee AND r8 < 0.5,
       fb, CASE WHEN fb > 0 AND r9 < 0.75 THEN fb ELSE 0 END, CASE WHEN fb > 0 AND r9 < 0.55 THEN fb ELSE 0 END,
       r9 > 0.995, ($8::text[])[p], ($9::text[])[p], ($10::bool[])[p], ($11::bool[])[p], ($12::bool[])[p],
       ($13::bool[])[p], fee, ch = 2, fee AND r7 < 0.9, CASE WHEN open THEN NULL ELSE 1 + 9 * r6 END,
       'working_days'
FROM (SELECT i, rec, u, p, ch, r1, r2, r3, r4, r5, r6, r7, r8, r9, deadline,
             deadline > $6 OR (deadline + interval '10 days' > $6 AND r1 < 0.5) AS open,
             r8 < 0.3 AS fee, CASE WHEN r9 < 0.0015 THEN 1 ELSE 0 END AS fb
      FROM (SELECT i, rec, u, p, ch, r1, r2, r3, r4, r5, r6, r7, r8, r9,
                   (date_trunc('day', rec AT TIME ZONE 'Asia/Ho_Chi_Minh') + interval '14 days 17 hours')
                   AT TIME ZONE 'Asia/Ho_Chi_Minh' AS deadline
      FROM (SELECT i, $4::timestamptz + (i - $1) * ($5::float8 / ($2 - $1 + 1)) * interval '1 second' AS rec,
                   1 + floor(random() * array_length($3::text[], 1))::int AS u,
                   1 + floor(random() * array_length($7::text[], 1))::int AS p,
                   CASE WHEN random() < 0.55 THEN 1 WHEN random() < 0.9 THEN 2 ELSE 3 END AS ch,
                   random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
                   random() AS r6, random() AS r7, random() AS r8, random() AS r9
            FROM generate_series($1::bigint, $2::bigint) i) g) d) h
"""


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def generate(schema: str, years: int, now: datetime) -> dict:
    """`years` province-years of facts ending now, their sync facts, and the rollups."""
    engine = make_engine(DATABASE_URL, schema)
    await prepare_schema(engine, schema, "metrics")
    conn = await asyncpg.connect(
        DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://"), server_settings={"search_path": schema}
    )
    catalog = json.loads(CATALOG.read_text())["procedures"]
    units = [u.code for u in load_units().units.values() if u.parent is not None]
    out: dict = {"years": years, "dossiers": years * PER_YEAR}
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SELECT setseed(0.2026)")
        start = now - timedelta(days=365 * years)
        span = (now - start).total_seconds()
        started = time.perf_counter()
        total = years * PER_YEAR
        step = PER_YEAR // 2
        for first in range(1, total + 1, step):
            last = min(total, first + step - 1)
            await conn.execute(
                generate_sql(),
                first,
                last,
                units,
                start + (first - 1) * timedelta(seconds=span / total),
                (last - first + 1) * span / total,
                now,
                [c["code"] for c in catalog],
                [c["field"] for c in catalog],
                [c["online"] for c in catalog],
                [c["fee"] > 0 for c in catalog],
                [c["online_payment"] for c in catalog],
                [c["fee_data_synced"] for c in catalog],
                [c["population_data_connected"] for c in catalog],
            )
            say(f"  facts: {last:,} of {total:,}")
        await conn.execute(
            "INSERT INTO portal_sync_facts SELECT dossier_code, revision, status, "
            "received_at + interval '1 hour' FROM dossier_facts WHERE random() < 0.95"
        )
        out["facts_seconds"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        async with make_sessionmaker(engine)() as session, session.begin():
            await rebuild_rollups(session)
        out["rollups_seconds"] = round(time.perf_counter() - started, 1)
        # The steady state a dashboard meets: hint bits set, visibility maps and statistics current.
        for table in (
            "dossier_facts",
            "portal_sync_facts",
            "rollups",
            "unit_rollups",
            "procedure_rollups",
            "open_rollups",
        ):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        out["rollup_rows"] = await conn.fetchval("SELECT count(*) FROM rollups")
        out["open_dossiers"] = await conn.fetchval("SELECT count(*) FROM dossier_facts WHERE on_time IS NULL")
        out["facts_bytes"] = await conn.fetchval("SELECT pg_total_relation_size('dossier_facts')")
        out["rollups_bytes"] = await conn.fetchval("SELECT pg_total_relation_size('rollups')")
    finally:
        await conn.close()
        await engine.dispose()
    return out


def periods(now: datetime) -> dict[str, tuple[str, dict]]:
    """The last whole month, the last whole year, the ten years up to this month as the dashboard's
    range picker asks for them (whole months), and the ten years up to today as a date range (its
    partial months are read day by day: the dearest shape)."""
    today = now.astimezone(TZ).date()
    month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    first = date(today.year - 10, today.month, 1)
    first = date(first.year + first.month // 12, first.month % 12 + 1, 1)  # 120 months with this one
    last = date(today.year + today.month // 12, today.month % 12 + 1, 1) - timedelta(days=1)
    ten = date(today.year - 10, today.month, today.day) + timedelta(days=1)
    return {
        "month": (month, {"period": month}),
        "year": (str(today.year - 1), {"period": str(today.year - 1)}),
        "ten years": (f"{first:%Y-%m}..{last:%Y-%m}", {"from": first.isoformat(), "to": last.isoformat()}),
        "ten years, days": (f"{ten}..{today}", {"from": ten.isoformat(), "to": today.isoformat()}),
    }


def period_of(params: dict):
    if "period" in params:
        return parse_period(params["period"])
    return date_range(date.fromisoformat(params["from"]), date.fromisoformat(params["to"]))


async def endpoint(url: str, token: str, params: dict) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(20):  # warm-up: every pooled connection's prepared statements, the unit tree
            (await client.get("/v1/indicators", params=params | {"unit": "H44"})).raise_for_status()
        latencies = []
        for _ in range(REQUESTS):
            sent = time.perf_counter()
            response = await client.get("/v1/indicators", params=params | {"unit": "H44"})
            latencies.append(time.perf_counter() - sent)
            response.raise_for_status()
        body = response.json()
    return summarize(latencies) | {"received": body["unit"]["received"], "score": body["unit"]["index"]["score"]}


async def from_facts(schema: str, params: dict, now: datetime, repeat: int) -> dict:
    """The baseline: the period's and the previous period's counts straight from the facts."""
    engine = make_engine(DATABASE_URL, schema)
    period = period_of(params)
    latencies = []
    try:
        async with make_sessionmaker(engine)() as session:
            for _ in range(repeat):
                sent = time.perf_counter()
                for p in (period, period.previous()):
                    await count_from_facts(session, p, min(now, p.end))
                latencies.append(time.perf_counter() - sent)
    finally:
        await engine.dispose()
    return summarize(latencies)


async def first_paint(url: str, token: str, params: dict, repeat: int = 5) -> dict:
    """Navigation start → every panel rendered (the page sets body[data-loaded] last)."""
    from playwright.async_api import async_playwright

    times = []
    query = "&".join(f"{k}={v}" for k, v in params.items())
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for _ in range(repeat + 1):  # the first load fills the browser's and server's caches
                page = await browser.new_page(viewport={"width": 1280, "height": 1800}, locale="vi-VN")
                await page.set_extra_http_headers({"Authorization": f"Bearer {token}"})
                await page.goto(f"{url}/?{query}")
                await page.wait_for_selector("body[data-loaded]", timeout=30000)
                times.append(await page.evaluate("performance.now()") / 1000)
                await page.close()
        finally:
            await browser.close()
    return {"seconds": times[1:], "median": statistics.median(times[1:]), "max": max(times[1:])}


def _save(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


async def queries_bench(run: Run, run_dir: Path, years: int, *, reuse: bool = False) -> dict:
    now = datetime.now(UTC)
    schema = f"{run.schemas}metrics"
    generated = run_dir / "generated.json"  # what a later --reuse of this run reports
    if reuse:
        results: dict = {"generated": json.loads(await asyncio.to_thread(generated.read_text))}
        say(f"reusing {schema}: {results['generated']}")
        engine = make_engine(DATABASE_URL, schema)
        try:  # a schema kept by an older commit: brought to this code's head, as `deploy upgrade` would
            await upgrade_schema(engine, schema, "metrics")
        finally:
            await engine.dispose()
    else:
        say(f"generating {years} province-year(s): {years * PER_YEAR:,} dossiers in PostgreSQL")
        results = {"generated": await generate(schema, years, now)}
        await asyncio.to_thread(_save, generated, results["generated"])
        say(f"generated: {results['generated']}")
    await ensure_topics(KAFKA, run.topics, PARTITIONS)
    stack = BenchStack(
        run_dir=run_dir,
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=run.topics.prefix,
        schema_prefix=run.schemas,
        ports={"metrics": free_port(), "processing": free_port()},
    )
    stack.start("metrics")
    try:
        await asyncio.to_thread(stack.wait_ready, "metrics", 600)
        url = stack.url("metrics")
        results["periods"] = {}
        for name, (label, params) in periods(now).items():
            say(f"/v1/indicators for {label}: {REQUESTS} requests; baseline from the facts")
            figures = {"label": label, "endpoint": await endpoint(url, stack.reader_token, params)}
            repeat = {"month": 10, "year": 3}.get(name, 1)
            figures["from_facts"] = await from_facts(schema, params, now, repeat)
            results["periods"][name] = figures
            e = figures["endpoint"]
            say(
                f"  {name}: p50 {e['p50'] * 1000:.1f} ms, p99 {e['p99'] * 1000:.1f} "
                f"ms; from the facts {figures['from_facts']['p50'] * 1000:.0f} ms"
            )
        say("dashboard first paint (headless Chromium)")
        results["first_paint"] = {
            name: await first_paint(url, stack.reader_token, params)
            for name, (_, params) in periods(now).items()
            if name in ("month", "year")
        }
    finally:
        await asyncio.to_thread(stack.stop_all)
    return results


TARGETS = {"month": 0.1, "year": 0.1, "ten years": 0.3, "ten years, days": 0.3}


def table(results: dict) -> str:
    g = results["generated"]
    lines = [
        f"{g['dossiers']:,} dossiers ({g['years']} province-years; facts generated in {g['facts_seconds']} s, "
        f"rollups built in {g['rollups_seconds']} s: {g['rollup_rows']:,} rows, "
        f"{g['rollups_bytes'] / 2**20:,.0f} MiB beside {g['facts_bytes'] / 2**20:,.0f} MiB of facts; "
        f"{g['open_dossiers']:,} open dossiers)",
        f"{'/v1/indicators H44':<36}{'p50 ms':>9}{'p99 ms':>9}{'target p99':>12}{'from facts p50 ms':>19}"
        f"{'ratio':>8}  dossiers in period",
    ]
    for name, f in results["periods"].items():
        e, b = f["endpoint"], f["from_facts"]
        lines.append(
            f"{name + ' ' + f['label']:<36}{e['p50'] * 1000:>9.1f}{e['p99'] * 1000:>9.1f}"
            f"{TARGETS[name] * 1000:>10.0f}ms{b['p50'] * 1000:>19.0f}{b['p50'] / e['p50']:>7.0f}x"
            f"  {e['received']:,}"
        )
    for name, paint in results.get("first_paint", {}).items():
        lines.append(
            f"dashboard first paint, {name}: median {paint['median']:.2f} s, max {paint['max']:.2f} s (target 1 s)"
        )
    return "\n".join(lines)
