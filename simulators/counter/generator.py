"""Realistic dossier lifecycles for the province's real units and the procedure catalog."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.units import UnitTree
from simulators.counter.events import EventFactory

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CATALOG = Path(__file__).parents[2] / "services" / "processing" / "data" / "procedures.json"
# Rough calendar length of one unit of each time limit, to place realistic finishing times.
CALENDAR_DAYS = {"working_days": 1.45, "calendar_days": 1.0, "hours": 1 / 8, "months": 30.0}


@dataclass(frozen=True)
class Profile:
    """Shares observed in the province's published figures (docs/domain.md §6, §7), rounded."""

    online: float = 0.55
    postal: float = 0.03
    commune_share: float = 0.75
    component_digitized: float = 0.8
    result_digitized: float = 0.35
    electronic_result: float = 0.72
    reused: float = 0.1
    population_data: float = 0.3
    supplement: float = 0.06
    second_supplement: float = 0.15
    refused: float = 0.01
    withdrawn: float = 0.005
    late: float = 0.2
    paid_online: float = 0.6
    received_elsewhere: float = 0.02  # received by another commune (reception regardless of boundaries)
    returned_by_post: float = 0.05  # results sent by post, besides those of dossiers received by post


def load_procedures(path: Path = CATALOG) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["procedures"]


class DossierGenerator:
    def __init__(self, units: UnitTree, *, seed: int = 1, profile: Profile = Profile()):
        self.rng = random.Random(seed)
        # A separate stream for the choices added later (issue 14), so a seed's dossiers stay the same.
        self.rng2 = random.Random(seed + 1_000_003)
        self.profile = profile
        self.events = EventFactory("motcua-simulator", seed=seed)
        self.communes = [u.code for u in units.units.values() if u.level == "COMMUNE"]
        self.departments = [u.code for u in units.units.values() if u.level == "PROVINCE" and u.parent]
        procedures = load_procedures()
        self.procedures = {lvl: [p for p in procedures if p["level"] == lvl] for lvl in ("COMMUNE", "PROVINCE")}
        self._sequence: dict[tuple[str, str], int] = {}

    def dossier_code(self, unit: str, at: datetime) -> str:
        key = (unit, at.strftime("%y%m%d"))
        self._sequence[key] = self._sequence.get(key, 0) + 1
        return f"{unit}-{key[1]}-{self._sequence[key]:04d}"

    def reception_time(self, start: datetime, end: datetime) -> datetime:
        """A weekday office-hours moment in [start, end)."""
        while True:
            day = start + timedelta(seconds=self.rng.uniform(0, (end - start).total_seconds()))
            local = day.astimezone(TZ)
            if local.weekday() < 5:
                moment = datetime.combine(local.date(), time(7, 30), TZ) + timedelta(minutes=self.rng.uniform(0, 540))
                if start <= moment < end:
                    return moment

    def dossier(self, start: datetime, end: datetime) -> list[dict]:
        """One dossier's events, in the order they happen."""
        p, rng, ev = self.profile, self.rng, self.events
        commune = rng.random() < p.commune_share
        unit = rng.choice(self.communes if commune else self.departments)
        proc = rng.choice(self.procedures["COMMUNE" if commune else "PROVINCE"])
        at = self.reception_time(start, end)
        code = self.dossier_code(unit, at)
        r = rng.random()
        channel = 2 if r < p.online else 3 if r < p.online + p.postal else 1
        elsewhere = (
            commune
            and channel != 2
            and self.rng2.random() < p.received_elsewhere
            and self.rng2.choice([c for c in self.communes if c != unit])
        )
        out = [
            ev.received(code, at, unit=unit, procedure=proc["code"], channel=channel, receiving_unit=elsewhere or None)
        ]
        digitized = rng.random() < p.component_digitized
        for name in ("TP01", "TP02")[: rng.randint(1, 2)]:
            out.append(
                ev.component(
                    code,
                    at + timedelta(minutes=5),
                    name,
                    digitized=digitized,
                    reused=rng.random() < p.reused,
                    population=rng.random() < p.population_data,
                )
            )
        if rng.random() < p.refused:
            return out + [ev.refused(code, at + timedelta(hours=2))]
        limit = proc["limit"]["amount"] * CALENDAR_DAYS[proc["limit"]["unit"]]
        late = rng.random() < p.late
        days = limit * (rng.uniform(1.3, 3.0) if late else rng.uniform(0.1, 0.8))
        done = at + timedelta(days=days)
        out.append(ev.transferred(code, at + timedelta(hours=1), from_unit=unit, to_unit=unit))
        if rng.random() < p.supplement:
            for _ in range(2 if rng.random() < p.second_supplement else 1):
                asked = at + timedelta(hours=rng.uniform(2, 20))
                out += [ev.supplement_requested(code, asked), ev.supplement_supplied(code, asked + timedelta(days=2))]
                done += timedelta(days=2)
        if rng.random() < p.withdrawn:
            return out + [ev.withdrawn(code, at + timedelta(days=days / 2))]
        if proc["fee"]:
            online = 1 if rng.random() < p.paid_online else 0
            out.append(ev.fee_paid(code, at + timedelta(hours=1), proc["fee"], online))
        out.append(
            ev.result(
                code,
                done - timedelta(minutes=30),
                electronic=rng.random() < p.electronic_result,
                digitized=rng.random() < p.result_digitized,
            )
        )
        out.append(ev.processed(code, done))
        by_post = channel == 3 or self.rng2.random() < p.returned_by_post
        out.append(ev.returned(code, done + timedelta(hours=rng.uniform(1, 48)), "post" if by_post else None))
        return sorted(out, key=lambda e: e["time"])

    def dossiers(self, count: int, start: datetime, end: datetime) -> list[list[dict]]:
        return [self.dossier(start, end) for _ in range(count)]
