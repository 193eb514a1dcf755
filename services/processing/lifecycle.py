"""A dossier's state, folded from all its distinct events in the order they happened.

Re-folding from the stored events on every new fact is what makes duplicates and
out-of-order arrival harmless: the same set of events always gives the same state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.processing.catalog import Procedure
from services.processing.workcalendar import WorkCalendar
from services.processing.transitions import illegal_reason
from shared.event_types import Anomaly, Channel, DossierState, PaymentMethod, ProcedureFacts, Status

# Events stamped with the same time are applied in lifecycle order.
ORDER = {
    t: i
    for i, t in enumerate(
        [
            "dossier.submitted",
            "dossier.received",
            "dossier.component_recorded",
            "dossier.transferred",
            "dossier.fee_requested",
            "dossier.fee_paid",
            "dossier.supplement_requested",
            "dossier.supplement_supplied",
            "dossier.extended",
            "dossier.result_recorded",
            "dossier.processed",
            "dossier.withdrawal_requested",
            "dossier.stopped",
            "dossier.refused",
            "dossier.result_returned",
            "dossier.feedback_received",
            "dossier.feedback_handled",
            "dossier.rated",
            "dossier.deadline_passed",
        ]
    )
}
# Statuses that end processing, with the time that ends the clock (DOMAIN.md §5).
ENDING = {
    "dossier.refused": Status.REFUSED,
    "dossier.withdrawal_requested": Status.WITHDRAWAL_REQUESTED,
    "dossier.stopped": Status.STOPPED,
    "dossier.processed": Status.PROCESSED,
}


@dataclass(frozen=True)
class StoredEvent:
    id: str
    type: str
    time: datetime
    data: dict[str, Any]


def in_order(events: Iterable[StoredEvent]) -> list[StoredEvent]:
    return sorted(events, key=lambda e: (e.time, ORDER.get(e.type, 99), e.id))


@dataclass
class _Fold:
    """Mutable working state while applying events; becomes a DossierState at the end."""

    code: str
    unit_code: str = ""
    procedure_code: str = ""
    channel: Channel = Channel.COUNTER
    status: Status = Status.SUBMITTED
    received_at: datetime | None = None
    due_at: datetime | None = None
    end_at: datetime | None = None
    returned_at: datetime | None = None
    supplement_requests: int = 0
    paused: timedelta = timedelta()
    waiting_since: datetime | None = None  # supplementation requested, not yet supplied
    has_fee: bool = False
    paid_online: bool = False
    population: bool = False
    personal_store: bool = False
    result_digitized: bool = False
    electronic_result: bool = False
    deadline_passed_at: datetime | None = None  # the overdue timer fired at this moment
    procedure: ProcedureFacts | None = None
    feedback_due: dict[str, datetime] = field(default_factory=dict)  # PAKN id -> its deadline
    feedback_on_time: set[str] = field(default_factory=set)
    feedback_satisfied: set[str] = field(default_factory=set)
    disliked: bool = False
    anomalies: list[Anomaly] = field(default_factory=list)


def fold(
    code: str,
    events: Iterable[StoredEvent],
    *,
    procedure: Callable[[str], Procedure | None],
    calendar: WorkCalendar,
) -> DossierState | None:
    """The dossier's state, or None while its opening event has not arrived yet."""
    # The document system's status messages show on the control sheet only; they change no state.
    ordered = in_order(e for e in events if e.type != "dossier.document_status")
    if not any(e.type in ("dossier.submitted", "dossier.received") for e in ordered):
        return None
    f = _Fold(code)
    components: dict[str, dict[str, Any]] = {}
    for e in ordered:
        reason = illegal_reason(e.type, f.status, opened=bool(f.unit_code),
                                received=f.received_at is not None, waiting=f.waiting_since is not None)
        if reason:
            f.anomalies.append(Anomaly(event_id=e.id, type=e.type, time=e.time, reason=reason))
        else:
            _apply(f, e, components, procedure, calendar)
    return _with_document(_state(f, len(ordered), components), ordered, procedure)


def _apply(f: _Fold, e: StoredEvent, components: dict, procedure, calendar: WorkCalendar) -> None:
    d, t = e.data, e.type
    if t in ("dossier.submitted", "dossier.received"):
        f.unit_code, f.procedure_code, f.channel = d["unit_code"], d["procedure_code"], Channel(d["channel"])
        proc = procedure(f.procedure_code)
        f.has_fee = f.has_fee or bool(proc and proc.fee > 0)
        f.procedure = proc.facts() if proc else None
        if t == "dossier.received":
            f.received_at = e.time
            f.due_at = calendar.due_at(e.time, proc.time_limit) if proc else None
            if f.status == Status.SUBMITTED:
                f.status = Status.ACCEPTED
    elif t == "dossier.transferred" or t == "dossier.supplement_supplied":
        if t == "dossier.supplement_supplied" and f.waiting_since is not None:
            f.paused += e.time - f.waiting_since
            f.waiting_since = None
        f.status = Status.PROCESSING if f.end_at is None else f.status
    elif t == "dossier.supplement_requested":
        f.supplement_requests += 1
        f.waiting_since = e.time
        f.status = Status.SUPPLEMENT_REQUESTED
    elif t == "dossier.fee_requested":
        f.has_fee = True
        f.status = Status.FEE_REQUESTED
    elif t == "dossier.fee_paid":
        f.has_fee = True
        f.paid_online = f.paid_online or d["method"] != PaymentMethod.OFFLINE
        f.status = Status.PROCESSING if f.end_at is None else f.status
    elif t == "dossier.extended":
        f.due_at = datetime.fromisoformat(d["new_due_at"])
    elif t in ENDING:
        f.status = ENDING[t]
        if f.end_at is None or t == "dossier.processed":
            f.end_at = e.time
    elif t == "dossier.result_returned":
        f.status = Status.RETURNED
        f.returned_at = e.time
        f.end_at = f.end_at or e.time  # "processed" is preferred; returned stands in
    elif t == "dossier.component_recorded":
        components[d["component_code"]] = d
        f.population = f.population or d["from_population_data"]
        f.personal_store = f.personal_store or d["from_personal_data_store"]
    elif t == "dossier.result_recorded":
        f.result_digitized = f.result_digitized or d["digitized"]
        f.electronic_result = f.electronic_result or d["electronic"]
    elif t == "dossier.deadline_passed":
        f.deadline_passed_at = e.time
    elif t == "dossier.feedback_received":
        f.feedback_due[d["feedback_id"]] = datetime.fromisoformat(d["due_at"])
    elif t == "dossier.feedback_handled":
        _feedback_handled(f, e)
    elif t == "dossier.rated":
        f.disliked = d["rating"] == "dissatisfied"  # the latest rating counts


def _feedback_handled(f: _Fold, e: StoredEvent) -> None:
    feedback_id = e.data["feedback_id"]
    due = f.feedback_due.get(feedback_id)
    if due is not None and e.time <= due:
        f.feedback_on_time.add(feedback_id)
    if e.data.get("satisfied"):
        f.feedback_satisfied.add(feedback_id)


def _verdict(f: _Fold) -> tuple[bool | None, datetime | None]:
    """(final verdict, deadline for open dossiers) by the portal's rule, DOMAIN.md §5."""
    if f.supplement_requests > 1:
        return False, None  # more than one supplementation request: overdue
    if f.due_at is None:
        return None, None
    deadline = f.due_at + f.paused  # supplementation stops the clock
    judged_at = f.end_at or f.waiting_since  # waiting for the citizen: judged at the request
    if judged_at is None:
        return None, deadline
    return judged_at <= deadline, None


def _state(f: _Fold, revision: int, components: dict[str, dict[str, Any]]) -> DossierState:
    on_time, deadline = _verdict(f)
    overdue = deadline is not None and f.deadline_passed_at is not None and f.deadline_passed_at >= deadline
    return DossierState(
        dossier_code=f.code,
        unit_code=f.unit_code,
        procedure_code=f.procedure_code,
        channel=f.channel,
        status=f.status,
        revision=revision,
        received_at=f.received_at,
        due_at=f.due_at,
        end_at=f.end_at,
        returned_at=f.returned_at,
        supplement_requests=f.supplement_requests,
        paused_seconds=f.paused.total_seconds(),
        on_time=on_time,
        deadline_at=deadline,
        overdue=overdue,
        has_fee=f.has_fee,
        paid_online=f.paid_online,
        components=len(components),
        components_digitized=sum(c["digitized"] for c in components.values()),
        components_reused=sum(c["reused"] for c in components.values()),
        uses_population_data=f.population,
        uses_personal_data_store=f.personal_store,
        result_digitized=f.result_digitized,
        electronic_result=f.electronic_result,
        feedback=len(f.feedback_due),
        feedback_handled_on_time=len(f.feedback_on_time),
        feedback_satisfied=len(f.feedback_satisfied),
        disliked=f.disliked,
        procedure=f.procedure,
        anomalies=f.anomalies,
    )


def _with_document(s: DossierState, ordered: list[StoredEvent], procedure) -> DossierState:
    """Whether the catalog says the result is an official document, and the number and symbol the
    document system issued for it (DOMAIN.md §10), e.g. 123/QĐ-UBND."""
    proc = procedure(s.procedure_code)
    issued = [e.data for e in ordered if e.type == "dossier.result_recorded" and e.data.get("document_number")]
    number = f"{issued[-1]['document_number']}/{issued[-1]['document_symbol']}" if issued else None
    return s.model_copy(update={"result_is_document": bool(proc and proc.result_is_document),
                                "document_number": number})
