"""The province's unit tree (đơn vị), from a file: shared/data/units.csv, or the file UNITS_PATH
names (the same for every service), so the province's full post-merger tree loads without a code
change.

Columns: code, name, level (PROVINCE or COMMUNE), parent; optional: electronic_id (the QĐ 20/2020
identifier, 000.xx.xx.H44), closed_on (the first day the unit no longer exists: merged or closed),
merged_into (the unit that took over), renamed_on and former_name (the name before that day).
History is never rewritten: a dossier keeps its unit; a closed unit is left out of the units
listed for periods that start after it closed, and keeps counting for the periods before.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

UNITS_CSV = Path(__file__).parent / "data" / "units.csv"
LEVELS = ("PROVINCE", "COMMUNE")


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    level: str  # PROVINCE (the province and its departments) or COMMUNE
    parent: str | None
    electronic_id: str | None = None  # mã định danh điện tử (QĐ 20/2020/QĐ-TTg)
    closed_on: date | None = None  # merged or closed from this day
    merged_into: str | None = None
    renamed_on: date | None = None
    former_name: str | None = None  # its name before renamed_on

    def name_on(self, day: date) -> str:
        return self.former_name if self.renamed_on and self.former_name and day < self.renamed_on else self.name

    def exists_on(self, day: date) -> bool:
        return self.closed_on is None or day < self.closed_on


@dataclass(frozen=True, eq=False)  # hashed by identity: a loaded tree is never changed
class UnitTree:
    units: dict[str, Unit]

    def __contains__(self, code: str) -> bool:
        return code in self.units

    def children(self, code: str, on: date | None = None) -> list[Unit]:
        """The units directly below `code` (with `on`: those that still existed that day)."""
        return [u for u in self.units.values() if u.parent == code and (on is None or u.exists_on(on))]

    def ancestors_and_self(self, code: str) -> list[str]:
        """The unit and every unit above it: a dossier counts for each of them.

        A code the list does not know yet (a dossier held for the unit list) hangs below the
        nearest known unit its code starts with (H44.250 -> H44), so it is still counted there."""
        chain = []
        current: str | None = code
        while current is not None and current not in self.units and "." in current:
            chain.append(current)
            current = current.rsplit(".", 1)[0]
        if current not in self.units:
            return []
        while current is not None and current in self.units:
            chain.append(current)
            current = self.units[current].parent
        return chain

    @property
    def root(self) -> Unit:
        return next(u for u in self.units.values() if u.parent is None)


def load_units(path: Path | None = None) -> UnitTree:
    """The unit tree from `path`, else UNITS_PATH, else the shipped list (read once per file)."""
    return _load(Path(path or os.environ.get("UNITS_PATH") or UNITS_CSV))


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


@cache
def _load(path: Path) -> UnitTree:
    with path.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    units = {}
    for n, r in enumerate(rows, start=2):
        try:
            parent = (r.get("parent") or "").strip() or None
            unit = Unit(r["code"].strip(), r["name"].strip(), r["level"].strip(), parent,
                        electronic_id=(r.get("electronic_id") or "").strip() or None,
                        closed_on=_day(r.get("closed_on")), merged_into=(r.get("merged_into") or "").strip() or None,
                        renamed_on=_day(r.get("renamed_on")), former_name=(r.get("former_name") or "").strip() or None)
        except (KeyError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: row {n}: {exc}") from exc
        if unit.level not in LEVELS or unit.code in units:
            raise ValueError(f"{path}: row {n}: level must be one of {LEVELS} and codes unique ({unit.code})")
        units[unit.code] = unit
    missing = [u.code for u in units.values() if (u.parent and u.parent not in units)
               or (u.merged_into and u.merged_into not in units)]
    if missing or sum(u.parent is None for u in units.values()) != 1:
        raise ValueError(f"{path}: one root unit, and every parent and merged_into listed (check {missing[:5]})")
    return UnitTree(units)
