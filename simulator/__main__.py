"""Counter-system simulator: realistic dossiers for the province's units, posted to intake.

    python -m simulator --intake http://127.0.0.1:8001 --dossiers 3000 --days 60 --rate 2000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

from shared.units import load_units
from simulator.generator import DossierGenerator
from simulator.post import post_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intake", default="http://127.0.0.1:8001")
    parser.add_argument("--dossiers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=60, help="dossiers received over the last N days")
    parser.add_argument("--rate", type=float, default=2000, help="events per second")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    now = datetime.now(UTC)
    generator = DossierGenerator(load_units(), seed=args.seed)
    dossiers = generator.dossiers(args.dossiers, now - timedelta(days=args.days), now)
    # Counters post what has happened so far; later steps of open dossiers are still to come.
    events = sorted((e for d in dossiers for e in d if datetime.fromisoformat(e["time"]) <= now),
                    key=lambda e: e["time"])
    started = time.monotonic()
    totals = asyncio.run(post_events(args.intake, events, rate=args.rate))
    elapsed = time.monotonic() - started
    print(f"posted {len(events)} events for {len(dossiers)} dossiers in {elapsed:.1f} s: "
          f"{totals['accepted']} accepted, {totals['duplicates']} duplicates, {totals['rejected']} rejected")


if __name__ == "__main__":
    main()
