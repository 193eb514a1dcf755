"""The province's unit tree (đơn vị), from the reference list shipped in shared/data/units.csv."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

UNITS_CSV = Path(__file__).parent / "data" / "units.csv"


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    level: str  # PROVINCE (the province and its departments) or COMMUNE
    parent: str | None
    # The national electronic identifier (mã định danh điện tử, QĐ 20/2020/QĐ-TTg), e.g.
    # 000.00.01.H44: what the national portal and the document axis know the unit by.
    national_id: str = ""


@dataclass(frozen=True, eq=False)  # hashed by identity: a loaded tree is never changed
class UnitTree:
    units: dict[str, Unit]

    def __contains__(self, code: str) -> bool:
        return code in self.units

    def children(self, code: str) -> list[Unit]:
        return [u for u in self.units.values() if u.parent == code]

    def ancestors_and_self(self, code: str) -> list[str]:
        """The unit and every unit above it: a dossier counts for each of them."""
        chain = []
        current: str | None = code
        while current is not None and current in self.units:
            chain.append(current)
            current = self.units[current].parent
        return chain

    @property
    def root(self) -> Unit:
        return next(u for u in self.units.values() if u.parent is None)


@cache
def load_units(path: Path = UNITS_CSV) -> UnitTree:
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return UnitTree({r["code"]: Unit(r["code"], r["name"], r["level"], r["parent"] or None,
                                   r.get("national_id") or "") for r in rows})
