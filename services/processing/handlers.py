"""The Kafka side of processing: a batch's intake events go to the use case (refold.py)."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.processing.catalog import CatalogCache
from services.processing.refold import add_intake_events
from services.processing.working import FoldRules
from services.processing.workcalendar import WorkCalendar
from shared.consumer import Rejected
from shared.event_types import INTAKE_MODELS
from shared.events import Envelope, EventError, parse_typed
from shared.topics import Topics


async def handle_intake_batch(
    session: AsyncSession,
    records: Sequence[ConsumerRecord],
    *,
    calendar: WorkCalendar,
    catalog: CatalogCache,
    topics: Topics,
    rules: FoldRules = FoldRules(),
) -> Rejected:
    rejected: Rejected = []
    parsed: list[tuple[Envelope, BaseModel]] = []
    for record in records:
        try:
            envelope, data = parse_typed(record.value)
            if (envelope.type, envelope.version) not in INTAKE_MODELS:
                raise EventError([{"field": "type", "message": f"{envelope.type} is not an intake event"}])
            parsed.append((envelope, data))
        except EventError as exc:
            rejected.append((record, f"invalid event: {exc}"))
    await add_intake_events(session, parsed, calendar=calendar, catalog=catalog, topics=topics, rules=rules)
    return rejected
