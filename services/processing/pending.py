"""Dossiers held for the catalog: received and counted, judged once the catalog learns their code.

A dossier whose procedure (or unit) is unknown is folded like any other and published without a
verdict; `pending_catalog` rows name the unknown codes. When the catalog learns a code (an operator's
PUT, an import, a new unit file at start-up), each held dossier gets a synthetic
`dossier.catalog_learned` event (deterministic id: learning twice adds it once) and is re-folded:
the new revision replaces the unjudged one downstream, so the dossier is still counted once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.processing.catalog import CatalogCache
from services.processing.models import PendingCatalog
from services.processing.refold import INSERT_EVENTS, refold
from services.processing.workcalendar import WorkCalendar
from services.processing.working import FoldRules
from shared.topics import Topics
from shared.units import load_units


@dataclass(frozen=True)
class Folding:
    """What a re-fold needs, held by the app for its routes and start-up."""

    calendar: WorkCalendar
    catalog: CatalogCache
    topics: Topics
    rules: FoldRules = FoldRules()


async def learn_known(session: AsyncSession, folding: Folding) -> dict[str, int]:
    """Re-fold the held dossiers whose codes the catalog (or the unit list) now knows.

    Returns code -> dossiers released."""
    held = (await session.execute(select(PendingCatalog.code).distinct())).scalars().all()
    procedures, units = await folding.catalog.procedures(session), load_units()
    known = [
        c
        for c in held
        if (c.split(":", 1)[1] in procedures if c.startswith("procedure:") else c.split(":", 1)[1] in units)
    ]
    if not known:
        return {}
    rows = (
        (
            await session.execute(
                select(PendingCatalog.dossier_code, PendingCatalog.code).where(PendingCatalog.code.in_(known))
            )
        )
        .tuples()
        .all()
    )
    now = datetime.now(UTC)
    events = [
        {
            "id": f"{dossier}:c{hashlib.sha256(code.encode()).hexdigest()[:12]}",
            "dossier_code": dossier,
            "type": "dossier.catalog_learned",
            "time": now,
            "source": "processing-catalog",
            "data": {"code": code},
        }
        for dossier, code in rows
    ]
    await INSERT_EVENTS.execute(session, events)
    await refold(
        session,
        {dossier for dossier, _ in rows},
        calendar=folding.calendar,
        catalog=folding.catalog,
        topics=folding.topics,
        rules=folding.rules,
    )
    released: dict[str, int] = {}
    for _, code in rows:
        released[code] = released.get(code, 0) + 1
    return released


async def pending_summary(session: AsyncSession, *, sample: int = 20) -> list[dict]:
    """Each unknown code with how many dossiers wait for it, since when, and a few of them."""
    rows = await session.execute(
        select(
            PendingCatalog.code,
            func.count(),
            func.min(PendingCatalog.received_at),
            func.min(PendingCatalog.since),
            func.array_agg(PendingCatalog.dossier_code),
            func.array_agg(func.distinct(PendingCatalog.unit_code)),
        )
        .group_by(PendingCatalog.code)
        .order_by(func.count().desc(), PendingCatalog.code)
    )
    return [
        {
            "kind": code.split(":", 1)[0],
            "code": code.split(":", 1)[1],
            "dossiers": n,
            "first_received_at": first,
            "held_since": since,
            "units": sorted(units),
            "sample": sorted(dossiers)[:sample],
        }
        for code, n, first, since, dossiers, units in rows.tuples()
    ]
