"""The province's units as edXML organs: national identifier (OrganId) and contact elements.

The internal unit key (H44.100) stays inside this system; on the wire a unit is its national
electronic identifier (shared/data/units.csv, column national_id). Contact elements the unit list
does not hold (e-mail, telephone, fax) are sent empty, as the schema allows.
"""

from __future__ import annotations

from functools import cache

from services.sync.documents.edxml import Organ
from shared.units import UnitTree, load_units

PROVINCE_ADDRESS = "Tỉnh Phú Thọ"
WEBSITE = "phutho.gov.vn"


@cache
def units() -> UnitTree:
    return load_units()


def organ(code: str, name: str | None = None) -> Organ:
    """The unit `code` (internal key) as an edXML organ; KeyError when it is not a unit of ours."""
    tree = units()
    unit = tree.units[code]
    parent = tree.units.get(unit.parent) if unit.parent else None
    return Organ(
        id=unit.national_id,
        name=name or unit.name,
        in_charge=parent.name if parent else unit.name,
        address=PROVINCE_ADDRESS,
        website=WEBSITE,
    )


def unit_code(national_id: str) -> str | None:
    """The internal key of the unit with this national identifier, or None."""
    unit = units().by_national_id(national_id)
    return unit.code if unit else None
