"""`./bench.sh --cluster`: the cluster chaos scenario (tests/chaos/cluster_run.py) at bench size,
printing what a broker's loss and each instance's kill (a consumer-group rebalance) cost: the
pause in processing and the freshness p99 of the dossiers posted in the window after each kill,
beside the p99 of the others. The same checks against the truth as the CI test run at the end.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from bench.workload import DATABASE_URL, Run
from tests.chaos.cluster_run import run_cluster_chaos, settings_from_env

ROOT = Path(__file__).resolve().parents[1]
DOSSIERS, SECONDS = 3000, 150  # ~21,000 events at ~140 ev/s: calm stretches between the kills


async def cluster_bench(out: Path) -> dict:
    run = Run()
    work = ROOT / "var" / "bench" / run.id
    settings = settings_from_env(dossiers=DOSSIERS, post_seconds=SECONDS)
    db = create_async_engine(DATABASE_URL)
    started = time.perf_counter()
    try:
        result = await run_cluster_chaos(settings, work, DATABASE_URL, run.schemas)
    finally:
        await run.cleanup(db)
        await db.dispose()
    result["bench_seconds"] = round(time.perf_counter() - started, 1)
    await asyncio.to_thread(_write, out, json.dumps(result, indent=2, ensure_ascii=False))
    return result


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def table(result: dict) -> str:
    lines = [
        (
            f"cluster chaos, seed {result['seed']}: {result['dossiers']} dossiers, {result['events']} events "
            f"posted over {result['posting_s']} s; quiet {result['quiet_after_s']} s after the last post; "
            "every check against the truth passed"
        ),
        f"{'what was killed':50} {'processing pause s':>19} {'freshness p99 s':>16} {'events':>7} {'window s':>9}",
    ]
    for what, f in result["kills"].items():
        lines.append(
            f"{what:50} {f['processing_pause_s']:>19} {f['freshness_p99_s']!s:>16} {f['events']:>7} {f['window_s']:>9}"
        )
    b = result["baseline"]
    lines.append(
        f"{'(nothing: events outside every window)':50} {'':>19} {b['freshness_p99_s']!s:>16} {b['events']:>7}"
    )
    lines.append(f"portal simulator: {result['portal']}")
    return "\n".join(lines)
