"""Folding canonical events into per-dossier facts; an older revision never wins."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.models import DossierFact, PortalSyncFact
from services.metrics.rollups import tracking
from shared.consumer import Message, Rejected
from shared.db import BulkInsert, upsert
from shared.event_types import Channel, DossierState, Status, SyncOutcome, dossier_digitized
from shared.events import Envelope
from shared.revisions import newest, only_if_newer

# What the consumer hands this handler (from the lifecycle and portal-sync topics); anything else
# is dead-lettered before it.
ACCEPTS = frozenset({("dossier.state", 1), ("dossier.synced", 1)})


async def handle_canonical_batch(session: AsyncSession, messages: Sequence[Message]) -> Rejected:
    facts, synced = fold_messages(messages)

    async def write() -> None:
        if facts:
            await UPSERT_FACTS.execute(session, list(facts.values()))
        if synced:
            await UPSERT_SYNCED.execute(session, list(synced.values()))

    await tracking(session, facts.keys() | synced.keys(), write)  # the rollups move with the facts
    return []


def fold_messages(messages: Sequence[Message]) -> tuple[dict[str, dict], dict[str, dict]]:
    """The newest fact and sync fact per dossier among these messages (of equal revisions, the
    first seen, as a redelivery changes nothing)."""
    states: list[DossierState] = []
    synced: list[tuple[Envelope, SyncOutcome]] = []
    for m in messages:
        if isinstance(m.data, DossierState):
            states.append(m.data)
        elif isinstance(m.data, SyncOutcome) and m.data.ok:
            synced.append((m.envelope, m.data))
    latest = newest(states, key=lambda s: s.dossier_code, revision=lambda s: s.revision)
    latest_synced = newest(synced, key=lambda m: m[0].subject, revision=lambda m: m[1].revision)
    return (
        {code: _fact(s) for code, s in latest.items()},
        {
            code: {
                "dossier_code": code,
                "revision": outcome.revision,
                "status": int(outcome.status),
                "synced_at": envelope.time,
            }
            for code, (envelope, outcome) in latest_synced.items()
        },
    )


# MaCSDL of the national population database in DSKetNoiCSDL (P2 in docs/indicators.md sends "7"): provisional.
POPULATION_DATABASES = frozenset({"7"})
ENDED_UNOWED = (Status.REFUSED, Status.WITHDRAWAL_REQUESTED, Status.STOPPED)


def fee_owed(s: DossierState) -> bool:
    """3.6's denominator: a dossier of a fee-bearing procedure, unless its fees are all zero, or it
    ended (refused, withdrawn, stopped) without any fee asked or paid."""
    if not (s.procedure and s.procedure.has_fee):
        return False
    if s.fees:
        return any(f.amount > 0 for f in s.fees)
    return s.status not in ENDED_UNOWED or s.paid_online


def _fact(s: DossierState) -> dict:
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
        "digitized": dossier_digitized(s) and s.result_digitized,  # 4.2: the components and the result
        "electronic_result": s.electronic_result,
        "document_expected": s.result_is_document and s.status in (Status.PROCESSED, Status.RETURNED),
        "document_result": s.result_is_document and s.document_number is not None,
        "reused": s.components_reused > 0,
        # 4.4: a component taken from the citizen's data store, or a result link synced to it.
        "personal_store": s.uses_personal_data_store or s.result_in_citizen_store,
        # 4.5 (F): a VNeID-authenticated account, a component taken from the citizen's data store
        # (DuocLayTuKhoDMQG), or the population database consulted (or a component taken from it).
        "population_data": s.uses_population_data
        or s.vneid_authenticated
        or s.uses_personal_data_store
        or not POPULATION_DATABASES.isdisjoint(s.databases_consulted),
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
        # Issue 14's facts (models.ISSUE_14_COLUMNS).
        # 3.3: online, and for a procedure whose result is a paper document, with an electronic result.
        "online_counted": s.channel == Channel.ONLINE and (not (proc and proc.paper_result) or s.electronic_result),
        "fee_owed": fee_owed(s),
        "fee_data": bool(s.fees),
        "handling_time": s.handling_time,
        "time_unit": proc.time_unit if proc else None,
        "receiving_unit_code": s.receiving_unit_code,
        # The return event's method, else the form chosen at reception (HinhThuc: by post).
        "returned_by_post": s.return_method == "post" or (s.return_method is None and s.form == "post"),
        "pending_catalog": bool(s.pending_catalog),
    }


def _upsert_newer(model, columns: list[str]) -> BulkInsert:
    """Insert, or replace only when the incoming revision is newer (duplicates change nothing)."""
    table = model.__table__
    return BulkInsert(table, columns, upsert("dossier_code", columns, only_if_newer(table.name)))


FACT_COLUMNS = [c.name for c in DossierFact.__table__.columns]
SYNC_COLUMNS = [c.name for c in PortalSyncFact.__table__.columns]
UPSERT_FACTS = _upsert_newer(DossierFact, FACT_COLUMNS)
UPSERT_SYNCED = _upsert_newer(PortalSyncFact, SYNC_COLUMNS)
