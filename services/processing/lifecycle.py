"""A dossier's state, folded from all its distinct events in the order they happened.

Re-folding from the stored events on every new fact is what makes duplicates and
out-of-order arrival harmless: the same set of events always gives the same state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from services.processing.catalog import Procedure
from services.processing.controlsheet import control_sheet
from services.processing.stored import StoredEvent
from services.processing.transitions import illegal_reason
from services.processing.workcalendar import WorkCalendar
from services.processing.working import APPLY, FoldRules, Working, in_order, recalls
from shared.event_types import (
    OPENING_TYPES,
    Anomaly,
    ComponentRecordedV2,
    DocumentItem,
    DossierState,
    ResultItem,
    ResultRecordedV2,
    Status,
    StepItem,
)


def fold(
    code: str,
    events: Iterable[StoredEvent],
    *,
    procedure: Callable[[str], Procedure | None],
    calendar: WorkCalendar,
    rules: FoldRules = FoldRules(),
    known_unit: Callable[[str], bool] = lambda code: True,
) -> DossierState | None:
    """The dossier's state, or None while its opening event has not arrived yet.

    A dossier whose procedure or unit the catalog does not know yet is still folded and published
    (received and counted) but not judged: `pending_catalog` names the unknown codes, and the
    catalog's learning them re-folds it (services/processing/pending.py)."""
    # The document system's status messages show on the control sheet; only a recall agreed changes
    # the state (and only it counts in the revision, so the others publish no new state).
    ordered = in_order(e for e in events if e.type != "dossier.document_status" or recalls(e.data))
    if not any(e.type in OPENING_TYPES for e in ordered):
        return None
    w = Working(code, procedure, calendar, rules)
    for e in ordered:
        reason = illegal_reason(
            e.type,
            w.status,
            opened=bool(w.unit_code),
            received=w.received_at is not None,
            waiting=w.waiting_since is not None,
            processed=w.processed_at is not None,
        )
        if reason:
            w.anomalies.append(Anomaly(event_id=e.id, type=e.type, time=e.time, reason=reason))
        else:
            APPLY[e.type](w, e, e.data)
    pending = [f"procedure:{w.procedure_code}"] * (procedure(w.procedure_code) is None)
    pending += [f"unit:{w.unit_code}"] * (not known_unit(w.unit_code))
    steps = control_sheet([e for e in ordered if e.type != "dossier.document_status"])
    return _state(w, len(ordered), steps, pending, **_document(w, procedure))


def _verdict(f: Working) -> tuple[bool | None, datetime | None]:
    """(final verdict, deadline for open dossiers) by the portal's rule, docs/domain.md §5."""
    if f.supplement_requests > 1:
        return False, None  # more than one supplementation request: overdue
    if f.due_at is None:
        return None, None
    deadline = f.due_at + f.paused  # supplementation stops the clock
    judged_at = f.end_at or f.waiting_since  # waiting for the citizen: judged at the request
    if judged_at is None:
        return None, deadline
    return judged_at <= deadline, None


def _handling_time(f: Working) -> float | None:
    """Indicator 2.2: reception to the end of processing, minus supplementation, in the
    procedure's time unit (working days and hours count office time only)."""
    if f.status not in (Status.PROCESSED, Status.RETURNED) or not (f.received_at and f.end_at and f.procedure):
        return None
    unit = f.procedure.time_unit
    pauses = [(s.requested_at, s.supplied_at) for s in f.supplements if s.supplied_at]
    if unit in ("working_days", "hours"):
        office = f.calendar.office_time_between(f.received_at, f.end_at) - sum(
            (f.calendar.office_time_between(a, b) for a, b in pauses), timedelta()
        )
        return round(office / (f.calendar.office_day if unit == "working_days" else timedelta(hours=1)), 2)
    elapsed = f.end_at - f.received_at - f.paused
    return round(elapsed / timedelta(days=30 if unit == "months" else 1), 2)


def _state(
    f: Working,
    revision: int,
    steps: list[dict],
    pending: list[str],
    *,
    result_is_document: bool,
    document_number: str | None,
) -> DossierState:
    components = f.components
    on_time, deadline = _verdict(f) if not pending else (None, None)
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
        appointment_at=f.appointment_at,
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
        components_digitized=sum(c.digitized for c in components.values()),
        components_reused=sum(c.reused for c in components.values()),
        uses_population_data=any(c.from_population_data for c in components.values()),
        uses_personal_data_store=any(c.from_personal_data_store for c in components.values()),
        result_digitized=f.result_digitized,
        electronic_result=f.electronic_result,
        feedback=len(f.feedback_due),
        feedback_handled_on_time=len(f.feedback_on_time),
        feedback_satisfied=len(f.feedback_satisfied),
        disliked=f.disliked,
        procedure=f.procedure,
        submitted_at=f.submitted_at,
        documents=[
            DocumentItem(
                code=code,
                digitized=c.digitized,
                reused=c.reused,
                from_population_data=c.from_population_data,
                from_personal_data_store=c.from_personal_data_store,
                **_file(c) if isinstance(c, ComponentRecordedV2) else {},
            )
            for code, c in components.items()
        ],
        fees=f.fees,
        supplements=f.supplements,
        results=f.results,
        steps=[
            StepItem(
                unit_code=s["to_unit"],
                official=s["to_official"],
                started_at=s["handed_at"],
                due_at=s["due_at"],
                ended_at=s["ended_at"],
                verdict=s["verdict"],
            )
            for s in steps
        ],
        anomalies=f.anomalies,
        result_is_document=result_is_document,
        document_number=document_number,
        receiving_unit_code=f.receiving_unit_code if f.receiving_unit_code != f.unit_code else None,
        handling_time=_handling_time(f),
        return_method=f.return_method,
        pending_catalog=pending,
        vneid_authenticated=bool(f.portal.get("vneid_authenticated")),
        databases_consulted=list(f.portal.get("databases_consulted") or []),
        result_in_citizen_store=any(
            isinstance(r, ResultRecordedV2) and r.in_citizen_store for r in f.result_facts.values()
        ),
        summary=f.portal.get("summary"),
        submission_place=f.portal.get("submission_place"),
        form=f.portal.get("form"),
        applicant_type=f.portal.get("applicant_type"),
        applicant_code=f.portal.get("applicant_code"),
        payment_method=f.payment_method,
        result_items=[
            ResultItem(code=code, **_file(r) if isinstance(r, ResultRecordedV2) else {})
            for code, r in f.result_facts.items()
        ],
    )


def _file(d: ComponentRecordedV2 | ResultRecordedV2) -> dict[str, str | None]:
    """A v2 component's or result's file (v1 had none)."""
    return {"file_name": d.file_name, "file_url": d.file_url}


def _document(w: Working, procedure) -> dict:
    """Whether the catalog says the result is an official document, and the number and symbol the
    document system issued for it (docs/domain.md §10), e.g. 123/QĐ-UBND, unless it was recalled."""
    proc = procedure(w.procedure_code)
    return {"result_is_document": bool(proc and proc.result_is_document), "document_number": w.document_number}
