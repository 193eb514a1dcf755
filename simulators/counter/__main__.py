"""Counter-system simulator: realistic dossiers for the province's units, posted to intake.

    SIMULATOR_API_KEY=... python -m simulators.counter --intake http://127.0.0.1:8001 --dossiers 3000 --rate 2000

The API key (--api-key, or SIMULATOR_API_KEY) must be bound to the province root (H44): the
simulator posts for every unit. `python -m deploy.launch start` provisions one in var/run/simulator.key.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

from shared.units import load_units
from simulators.counter.generator import DossierGenerator
from simulators.counter.post import post_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intake", default="http://127.0.0.1:8001")
    parser.add_argument("--dossiers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=60, help="dossiers received over the last N days")
    parser.add_argument("--rate", type=float, default=2000, help="events per second")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--api-key",
        default=os.environ.get("SIMULATOR_API_KEY"),
        help="intake API key (default: $SIMULATOR_API_KEY; prefer the variable: arguments show in the process list)",
    )
    args = parser.parse_args()

    now = datetime.now(UTC)
    generator = DossierGenerator(load_units(), seed=args.seed)
    dossiers = generator.dossiers(args.dossiers, now - timedelta(days=args.days), now)
    # Counters post what has happened so far; later steps of open dossiers are still to come.
    events = sorted(
        (e for d in dossiers for e in d if datetime.fromisoformat(e["time"]) <= now), key=lambda e: e["time"]
    )
    started = time.monotonic()
    if not args.api_key:
        parser.error("intake needs an API key: set SIMULATOR_API_KEY or pass --api-key")
    totals = asyncio.run(post_events(args.intake, events, rate=args.rate, api_key=args.api_key))
    elapsed = time.monotonic() - started
    print(
        f"posted {len(events)} events for {len(dossiers)} dossiers in {elapsed:.1f} s: "
        f"{totals['accepted']} accepted, {totals['duplicates']} duplicates, {totals['rejected']} rejected"
    )


if __name__ == "__main__":
    main()
