"""The Kafka side of processing: a batch's intake events go to the use case (refold.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.processing.catalog import CatalogCache
from services.processing.refold import add_intake_events
from services.processing.workcalendar import WorkCalendar
from services.processing.working import FoldRules
from shared.consumer import Message, Rejected
from shared.event_types import INTAKE_MODELS
from shared.topics import Topics

# What the consumer hands this handler; anything else on dossier-events is dead-lettered before it.
ACCEPTS = frozenset(INTAKE_MODELS)


async def handle_intake_batch(
    session: AsyncSession,
    messages: Sequence[Message],
    *,
    calendar: WorkCalendar,
    catalog: CatalogCache,
    topics: Topics,
    rules: FoldRules = FoldRules(),
) -> Rejected:
    await add_intake_events(
        session,
        [(m.envelope, m.data) for m in messages],
        calendar=calendar,
        catalog=catalog,
        topics=topics,
        rules=rules,
    )
    return []
