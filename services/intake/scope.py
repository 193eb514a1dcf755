"""Which units an event speaks for, and whether the posting key may speak for them.

A dossier's unit is the unit-code prefix of its code (mã hồ sơ `<unit code>-YYMMDD-NNNN`,
docs/domain.md §2): every event names its dossier, most carry no unit of their own, and the code is
fixed for the dossier's life, so the prefix is the one rule that judges all event types alike.
Events that do carry `data.unit_code` (received, submitted: the unit the dossier is counted
for) must be covered as well. Transfers name other units on purpose (a hand-over to another
agency) and are judged by their dossier alone.
"""

from __future__ import annotations

from services.intake.apikeys import Caller
from shared.events import Envelope
from shared.units import UnitTree


def dossier_unit(dossier_code: str) -> str:
    """H44.100-260815-0042 → H44.100."""
    return dossier_code.rsplit("-", 2)[0]


def out_of_scope(envelope: Envelope, caller: Caller, tree: UnitTree) -> list[dict[str, str]]:
    """The fields naming units the caller may not post for (empty: allowed)."""
    named = [("subject", dossier_unit(envelope.subject))]
    receiving = envelope.data.get("receiving_unit_code")
    if isinstance(envelope.data.get("unit_code"), str):
        named.append(("data.unit_code", envelope.data["unit_code"]))
    if isinstance(receiving, str):
        # Reception regardless of administrative boundaries: the key speaks for the receiving unit
        # as well as for the handling unit whose dossier it opens (e.g. a reception centre's or the
        # postal operator's key bound to both).
        named.append(("data.receiving_unit_code", receiving))
    return [
        {"field": name, "message": f"the key {caller.name!r} may not post for unit {unit}"}
        for name, unit in named
        if not caller.covers(unit, tree)
    ]
