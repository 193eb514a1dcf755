"""Print the indicators the demo load produced, as a Vietnamese table, once the pipeline is quiet.

python -m deploy.report --period 2026-11
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.launch import Stack
from deploy.quiescence import wait_until_quiet
from shared.topics import Topics

COLUMNS = [
    ("online_rate", "Trực tuyến"),
    ("digitization_rate", "Số hóa"),
    ("on_time_rate", "Đúng hạn"),
    ("sync_rate", "Đồng bộ"),
]


def _cell(indicator: dict) -> str:  # "n/d  ratio%"
    ratio = indicator["ratio"]
    if ratio is None:
        return "—"
    return f"{indicator['numerator']:>5}/{indicator['denominator']:<5} {ratio * 100:6.2f}%"


def render(report: dict, top: int) -> str:
    header = f"{'Đơn vị':<44}{'Tiếp nhận':>10}{'Điểm 766':>10}  " + "  ".join(f"{name:^20}" for _, name in COLUMNS)
    rows = [report["unit"]] + report["children"][:top]  # children come ranked by 766 score
    lines = [f"Kỳ báo cáo {report['period']['label']}", header, "-" * len(header)]
    for u in rows:
        name = f"{u['key']} {u['name'] or ''}"[:43]
        cells = "  ".join(f"{_cell(u['rates'][key]):^20}" for key, _ in COLUMNS)
        score = f"{u['index']['score']:.2f}" if u["index"] else "—"
        lines.append(f"{name:<44}{u['received']:>10}{score:>10}  {cells}")
    return "\n".join(lines)


async def main_async(args) -> None:
    stack = Stack(args.run_dir)
    engine = create_async_engine(stack.database_url)
    try:
        await wait_until_quiet(
            engine, stack.kafka_bootstrap, Topics(stack.topic_prefix), stack.schema_prefix, timeout=args.timeout
        )
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=stack.url("metrics"), timeout=30) as client:
        for period in args.period:
            response = await client.get("/v1/indicators", params={"period": period})
            response.raise_for_status()
            print(render(response.json(), args.top), end="\n\n")


def main() -> None:
    from deploy.launch import ROOT

    this_month = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--period", action="append", help="2026-11, 2026-Q4, 2026 (repeatable)")
    parser.add_argument("--top", type=int, default=12, help="units listed below the province")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--run-dir", default=ROOT / "var" / "run")
    args = parser.parse_args()
    args.period = args.period or [this_month]
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
