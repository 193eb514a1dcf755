"""Folding canonical events into per-dossier facts; an older revision never wins."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.models import DossierFact, PortalSyncFact
from services.metrics.rollups import tracking
from shared.consumer import Rejected
from shared.db import BulkInsert, upsert
from shared.event_types import DossierState, Status, SyncOutcome
from shared.events import EventError, parse_typed

HANDLED = ("dossier.state", "dossier.synced")


async def handle_canonical_batch(session: AsyncSession, records: Sequence[ConsumerRecord]) -> Rejected:
    facts, synced, rejected = fold_records(records)

    async def write() -> None:
        if facts:
            await UPSERT_FACTS.execute(session, list(facts.values()))
        if synced:
            await UPSERT_SYNCED.execute(session, list(synced.values()))

    await tracking(session, facts.keys() | synced.keys(), write)  # the rollups move with the facts
    return rejected


def fold_records(records: Sequence[ConsumerRecord]) -> tuple[dict[str, dict], dict[str, dict], Rejected]:
    """The newest fact and sync fact per dossier among these records, and the records refused."""
    facts: dict[str, dict] = {}
    synced: dict[str, dict] = {}
    rejected: Rejected = []
    for record in records:
        try:
            envelope, data = parse_typed(record.value)
            if envelope.type not in HANDLED:
                raise EventError([{"field": "type", "message": f"{envelope.type} is not handled by metrics"}])
        except EventError as exc:
            rejected.append((record, f"invalid event: {exc}"))
            continue
        if isinstance(data, DossierState):
            _keep_newest(facts, data.dossier_code, _fact(data))
        elif isinstance(data, SyncOutcome) and data.ok:
            row = {"dossier_code": envelope.subject, "revision": data.revision,
                   "status": int(data.status), "synced_at": envelope.time}
            _keep_newest(synced, envelope.subject, row)
    return facts, synced, rejected


def _keep_newest(rows: dict[str, dict], code: str, row: dict) -> None:
    if code not in rows or row["revision"] > rows[code]["revision"]:
        rows[code] = row


def _fact(s: DossierState) -> dict:  # also for the rebuild's view of a state (rebuild.StateFacts)
    proc = s.procedure
    return {
        "dossier_code": s.dossier_code,
        "revision": s.revision,
        "unit_code": s.unit_code,
        "procedure_code": s.procedure_code,
        "channel": int(s.channel),
        "status": int(s.status),
        "received_at": s.received_at,
        "due_at": s.due_at,
        "on_time": s.on_time,
        "deadline_at": s.deadline_at,
        "digitized": s.components > 0 and s.components_digitized == s.components and s.result_digitized,
        "electronic_result": s.electronic_result,
        "document_expected": s.result_is_document and s.status in (Status.PROCESSED, Status.RETURNED),
        "document_result": s.result_is_document and s.document_number is not None,
        "reused": s.components_reused > 0,
        "personal_store": s.uses_personal_data_store,
        "population_data": s.uses_population_data,
        "has_fee": s.has_fee,
        "paid_online": s.paid_online,
        "feedback": s.feedback,
        "feedback_on_time": s.feedback_handled_on_time,
        "feedback_satisfied": s.feedback_satisfied,
        "disliked": s.disliked,
        "proc_field": proc.field if proc else None,
        "proc_online": proc.online if proc else None,
        "proc_has_fee": bool(proc and proc.has_fee),
        "proc_online_payment": bool(proc and proc.online_payment),
        "proc_fee_synced": bool(proc and proc.fee_data_synced),
        "proc_population": bool(proc and proc.population_data_connected),
    }


def _upsert_newer(model, columns: list[str]) -> BulkInsert:
    """Insert, or replace only when the incoming revision is newer (duplicates change nothing)."""
    table = model.__table__
    newer = f"{table.name}.revision < EXCLUDED.revision"
    return BulkInsert(table, columns, upsert("dossier_code", columns, newer))


FACT_COLUMNS = [c.name for c in DossierFact.__table__.columns]
SYNC_COLUMNS = [c.name for c in PortalSyncFact.__table__.columns]
UPSERT_FACTS = _upsert_newer(DossierFact, FACT_COLUMNS)
UPSERT_SYNCED = _upsert_newer(PortalSyncFact, SYNC_COLUMNS)
