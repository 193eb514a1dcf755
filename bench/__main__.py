"""The benchmark suite (issue 6): figures and ratios against baselines measured in the same run.

    .venv/bin/python -m bench            # ~5 minutes on the 2-core machine
    .venv/bin/python -m bench --quick    # ~1 minute, smaller counts
    .venv/bin/python -m bench --month    # a province-month (185,000 dossiers) through the pipeline, ~15 min
    .venv/bin/python -m bench --ref HEAD # a commit's snapshot, not the working tree being edited
    .venv/bin/python -m bench --queries [--years N]  # /v1/indicators on N province-years (default 10)
    .venv/bin/python -m bench --rebuild-year         # rebuild from compacted topics: a month and a year
    .venv/bin/python -m bench --cluster  # three brokers, two instances each, kills: pause and freshness (~6 min)
Needs the broker and database running (./bench.sh starts them). Results: var/bench/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from bench import baselines, report
from bench.freshness import freshness
from bench.pipeline import intake_and_end_to_end, make_stack, wait_until_complete
from bench.procstats import machine_busy
from bench.queries import queries_bench
from bench.queries import table as queries_table
from bench.rebuild import rebuild_metrics, sync_catch_up
from bench.rebuild_year import rebuild_year
from bench.rebuild_year import table as rebuild_table
from bench.workload import DATABASE_URL, KAFKA, PARTITIONS, Run, Workload, batch_bodies, wire_form
from shared.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    # dossiers (≈6.5 events each), freshness seconds at the rate (0: not measured), raw-latency
    # seconds, how long the pipeline and the rebuild may take before the run is called failed
    "full": {"dossiers": 15000, "fresh_seconds": 30, "latency_seconds": 5, "timeout": 180},
    "quick": {"dossiers": 1500, "fresh_seconds": 6, "latency_seconds": 2, "timeout": 120},
    # docs/domain.md §9: a province-month is ≈185,000 dossiers; the target is under 10 minutes.
    "month": {"dossiers": 185000, "fresh_seconds": 0, "latency_seconds": 2, "timeout": 1200},
}
FRESH_RATE, FRESH_BATCH = 1000, 100  # events/s, events per POST (a POST every 0.1 s)
INTAKE_BATCH, INTAKE_CLIENTS = 500, 4


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def measure(run: Run, size: dict, run_dir: Path) -> dict:
    workload = Workload()
    events = workload.history(size["dossiers"])
    results: dict = {
        "run": run.id,
        "events": len(events),
        "dossiers": size["dossiers"],
        "partitions": PARTITIONS,
        "started_at": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
    }
    busy, total = machine_busy()
    await asyncio.sleep(1.0)
    busy2, total2 = machine_busy()
    # Cores already busy before the bench starts anything (other test runs share the machine).
    results["background_cores_busy"] = round((busy2 - busy) / (total2 - total) * (os.cpu_count() or 1), 2)
    await ensure_topics(KAFKA, run.topics, PARTITIONS)
    await baselines.create_topic(run.raw_topic)

    say(f"baselines on {len(events)} events: raw produce, consume, latency, SQL insert")
    wire = wire_form(events)
    b = {"produce": await baselines.raw_produce(run.raw_topic, wire)}
    b["consume"] = await baselines.raw_consume(run.raw_topic, len(wire))
    latency_count = FRESH_RATE * size["latency_seconds"]
    b["latency"] = await baselines.raw_latency(run.raw_topic, wire[:latency_count], FRESH_RATE)
    b["sql"] = await baselines.sql_insert(run.scratch_schema, events)
    results["baselines"] = b

    say("starting the five services")
    stack = make_stack(run, run_dir)
    db = create_async_engine(DATABASE_URL)
    try:
        await asyncio.to_thread(stack.start_all)
        results["idle_memory_kib"] = stack.memory()
        say(f"intake + end to end: {len(events)} events, {INTAKE_BATCH} per POST, {INTAKE_CLIENTS} clients")
        bodies = batch_bodies(events, INTAKE_BATCH)
        results |= await intake_and_end_to_end(
            stack,
            run,
            db,
            bodies,
            len(events),
            dossiers=size["dossiers"],
            concurrency=INTAKE_CLIENTS,
            quiet_timeout=size["timeout"],
        )
        if count := FRESH_RATE * size["fresh_seconds"]:
            say(f"freshness: {count} new dossiers at {FRESH_RATE} ev/s")
            results["freshness"] = await freshness(
                stack.url("intake"),
                stack.headers(),
                f"{run.schemas}metrics",
                run.topics,
                workload.received_now(count),
                rate=FRESH_RATE,
                batch=FRESH_BATCH,
            )
            await wait_until_complete(db, run, size["dossiers"] + count, timeout=120)
        results["memory_kib"] = stack.memory()
        say("sync catching up on the lifecycle topic (new process, schema and consumer group)")
        try:
            results["catch_up"] = await sync_catch_up(run, run_dir / "catch-up", stack.ports, timeout=size["timeout"])
            results["memory_kib"]["sync (catch-up)"] = results["catch_up"]["memory_kib"]
        except Exception as exc:  # keep the other figures; the table shows the catch-up as missing
            say(f"catch-up failed: {exc!r}")
            results["catch_up"] = {"error": repr(exc)}
        say("rebuilding metrics from the topics (new process, schema and consumer group)")
        try:
            results["rebuild"] = await rebuild_metrics(run, run_dir / "rebuild", stack.ports, timeout=size["timeout"])
            results["memory_kib"]["metrics (rebuild)"] = results["rebuild"]["memory_kib"]
        except Exception as exc:  # keep the other figures; the table shows the rebuild as missing
            say(f"rebuild failed: {exc!r}")
            results["rebuild"] = {"error": repr(exc), "per_second": None}
    finally:
        await asyncio.to_thread(stack.stop_all)
        await db.dispose()
    return results


async def main_async(mode: str) -> dict:
    run = Run()
    run_dir = ROOT / "var" / "bench" / run.id
    say(f"run {run.id} ({mode}); logs under {run_dir}")
    started = time.perf_counter()
    db = create_async_engine(DATABASE_URL)
    try:
        results = await measure(run, SIZES[mode], run_dir)
    finally:
        say("cleaning up: deleting the run's topics and schemas")
        await run.cleanup(db)
        await db.dispose()
    results["mode"] = mode
    results["measured"] = os.environ.get("BENCH_MEASURED", "working tree")
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    results["table"] = report.rows(results)
    return results


def run_at(ref: str, mode: str, out: Path) -> int:
    """Run this bench on a snapshot of a commit's services (git archive; the repository is only
    read), so that edits in progress in the working tree do not change what is measured."""
    sha = subprocess.check_output(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, text=True).strip()
    src = ROOT / "var" / "bench" / "src" / sha[:12]
    if not (src / "services").exists():
        src.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    # The bench itself is this one (so a commit from before a bench change can be measured with it).
    shutil.copytree(ROOT / "bench", src / "bench", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    say(f"measuring {ref} = {sha[:12]} from the snapshot in {src}")
    command = [sys.executable, "-m", "bench", "--out", str(out.resolve())] + ([f"--{mode}"] if mode != "full" else [])
    env = dict(os.environ, PYTHONPATH=str(src), BENCH_MEASURED=f"{ref} = {sha}")
    return subprocess.run(command, cwd=src, env=env).returncode


def run_queries(years: int, out: Path, keep: bool, reuse: str | None) -> int:
    async def run() -> dict:
        run_, db = Run(reuse) if reuse else Run(), create_async_engine(DATABASE_URL)
        say(f"run {run_.id} (queries, {years} years); logs under var/bench/{run_.id}")
        try:
            return await queries_bench(run_, ROOT / "var" / "bench" / run_.id, years, reuse=reuse is not None)
        finally:
            if keep:
                say(f"kept: measure it again with --queries --reuse {run_.id}")
            else:
                say("cleaning up: deleting the run's topics and schemas")
                await run_.cleanup(db)
            await db.dispose()

    busy, total = machine_busy()
    time.sleep(1.0)
    busy2, total2 = machine_busy()
    results = asyncio.run(run())
    results["background_cores_busy"] = round((busy2 - busy) / (total2 - total) * (os.cpu_count() or 1), 2)
    report.write_json(results, out)
    print(queries_table(results))
    print(
        f"\n{results['background_cores_busy']} of {os.cpu_count()} cores were busy before the bench started; "
        f"results: {out}"
    )
    return 0


def run_rebuild_year(out: Path) -> int:
    async def run() -> dict:
        run_, db = Run(), create_async_engine(DATABASE_URL)
        say(f"run {run_.id} (rebuild of a province-month and a province-year)")
        try:
            return await rebuild_year(run_)
        finally:
            say("cleaning up: deleting the run's topics and schemas")
            await run_.cleanup(db)
            await db.dispose()

    results = asyncio.run(run())
    report.write_json(results, out)
    print(rebuild_table(results))
    print(f"\nresults: {out}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="smaller counts, about a minute")
    sizes.add_argument("--month", action="store_true", help="a province-month through the pipeline (~15 min)")
    sizes.add_argument(
        "--cluster",
        action="store_true",
        help="chaos on a three-node cluster with two instances of each service (~6 min)",
    )
    sizes.add_argument(
        "--queries",
        action="store_true",
        help="/v1/indicators and the dashboard on --years province-years generated in PostgreSQL",
    )
    sizes.add_argument(
        "--rebuild-year",
        action="store_true",
        help="rebuild metrics from compacted topics holding a province-month and a province-year",
    )
    parser.add_argument("--years", type=int, default=10, help="province-years for --queries (1 while developing)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="--queries: keep the generated schema (generating ten years takes ~10 minutes)",
    )
    parser.add_argument("--reuse", metavar="RUN", help="--queries: measure the schema a --keep run kept")
    parser.add_argument("--ref", help="measure this commit (e.g. HEAD) instead of the working tree")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "results.json")
    args = parser.parse_args()
    if args.queries:
        raise SystemExit(run_queries(args.years, args.out.with_name("queries.json"), args.keep, args.reuse))
    if args.rebuild_year:
        raise SystemExit(run_rebuild_year(args.out.with_name("rebuild-year.json")))
    if args.cluster:
        from bench.cluster import cluster_bench, table

        out = args.out.with_name("cluster.json") if args.out.name == "results.json" else args.out
        print(table(asyncio.run(cluster_bench(out))))
        print(f"\nresults: {out}")
        return
    mode = "quick" if args.quick else "month" if args.month else "full"
    if args.ref:
        raise SystemExit(run_at(args.ref, mode, args.out))
    results = asyncio.run(main_async(mode))
    report.write_json(results, args.out)
    print(report.table(results))
    print()
    print(report.details(results))
    if results["background_cores_busy"] > 0.5:
        print(
            f"\nWARNING: {results['background_cores_busy']} of {results['cpus']} cores were busy before the bench "
            "started (other runs on this machine); every figure above is depressed by that load."
        )
    print(f"\nmeasured: {results['measured']}; results: {args.out}   ({results['bench_seconds']} s)")


if __name__ == "__main__":
    main()
