"""The working state of a dossier while its events are applied, and one applier per event type.

Appliers are plain functions routed by a dict (APPLY); each takes its event's typed data model
(services/processing/stored.py) and changes only what its event says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.processing.catalog import Procedure
from services.processing.stored import StoredEvent
from services.processing.workcalendar import TimeLimit, WorkCalendar
from shared.event_types import (
    OPENING_TYPES,
    RECALL_AGREED,
    Anomaly,
    Channel,
    ComponentRecorded,
    DocumentStatusV2,
    Extended,
    FeedbackHandled,
    FeedbackReceived,
    FeeItem,
    FeePaid,
    FeeRequested,
    PaymentMethod,
    PortalFacts,
    ProcedureFacts,
    Rated,
    Received,
    ReceivedV2,
    ResultRecorded,
    ResultReturned,
    Status,
    Submitted,
    SubmittedV2,
    SupplementItem,
    WithReason,
)

# Statuses that end processing, with the time that ends the clock (docs/domain.md §5).
ENDING = {
    "dossier.refused": Status.REFUSED,
    "dossier.withdrawal_requested": Status.WITHDRAWAL_REQUESTED,
    "dossier.stopped": Status.STOPPED,
    "dossier.processed": Status.PROCESSED,
}


@dataclass(frozen=True)
class FoldRules:
    """Rule choices a province states (docs/domain.md §5); the defaults are the legal reading."""

    # An extension (thư xin lỗi) gives the citizen a new appointment but does not make a late dossier
    # on time: it is judged against the original due date. The portal judges against the NgayHenTra
    # it was sent; a province that sends the new date there gets that mechanical verdict: set this.
    extension_moves_due_date: bool = False


# PAKN deadlines when the event carries none (Decision 766's formula document, 5.2), in working days
# from the day the feedback was received: answer, refuse to handle, ask the citizen for more.
FEEDBACK_LIMITS = {
    "answered": TimeLimit(15, "working_days"),
    "refused": TimeLimit(2, "working_days"),
    "supplement_requested": TimeLimit(5, "working_days"),
}


PORTAL_FACTS = (
    "summary",
    "submission_place",
    "form",
    "applicant_type",
    "applicant_code",
    "vneid_authenticated",
    "databases_consulted",
)

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
            "dossier.catalog_learned",
        ]
    )
}


def in_order(events: Iterable[StoredEvent]) -> list[StoredEvent]:
    return sorted(events, key=lambda e: (e.time, ORDER.get(e.type, 99), e.id))


@dataclass
class Working:
    """Mutable state while applying events in order; becomes a DossierState at the end."""

    code: str
    procedure_of: Callable[[str], Procedure | None]
    calendar: WorkCalendar
    rules: FoldRules = FoldRules()
    unit_code: str = ""
    receiving_unit_code: str | None = None
    procedure_code: str = ""
    channel: Channel = Channel.COUNTER
    status: Status = Status.SUBMITTED
    submitted_at: datetime | None = None  # NgayNopHoSo
    received_at: datetime | None = None
    due_at: datetime | None = None  # judged against (the original due date unless the rules say otherwise)
    appointment_at: datetime | None = None  # the citizen's appointment (moved by an extension)
    end_at: datetime | None = None
    processed_at: datetime | None = None  # reached status 9
    returned_at: datetime | None = None
    return_method: str | None = None
    supplement_requests: int = 0
    paused: timedelta = timedelta()
    waiting_since: datetime | None = None  # supplementation requested, not yet supplied
    has_fee: bool = False
    paid_online: bool = False
    components: dict[str, ComponentRecorded] = field(default_factory=dict)  # by component code
    result_digitized: bool = False
    electronic_result: bool = False
    deadline_passed_at: datetime | None = None  # the overdue timer fired at this moment
    procedure: ProcedureFacts | None = None
    feedback_due: dict[str, datetime] = field(default_factory=dict)  # PAKN id -> its answer deadline
    feedback_received_at: dict[str, datetime] = field(default_factory=dict)  # PAKN id -> when received
    feedback_late: set[str] = field(default_factory=set)  # a step (refusal, supplement request) was late
    feedback_on_time: set[str] = field(default_factory=set)
    feedback_satisfied: set[str] = field(default_factory=set)
    disliked: bool = False
    fees: list[FeeItem] = field(default_factory=list)
    supplements: list[SupplementItem] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    portal: dict[str, Any] = field(default_factory=dict)  # the v2 opening events' portal facts
    payment_method: int = 0
    result_facts: dict[str, ResultRecorded] = field(default_factory=dict)  # standing results, by result code
    document_number: str | None = None  # number/symbol of the standing issued document (docs/domain.md §10)
    document_id: str | None = None  # its edXML DocumentId

    def deadline(self) -> datetime | None:
        return self.due_at + self.paused if self.due_at else None

    def feedback_deadline(self, feedback_id: str, outcome: str) -> datetime:
        if outcome == "answered" and feedback_id in self.feedback_due:
            return self.feedback_due[feedback_id]
        return self.calendar.due_at(self.feedback_received_at[feedback_id], FEEDBACK_LIMITS[outcome])

    def resume(self) -> None:
        """Back to processing (4), unless processing has already ended."""
        if self.end_at is None:
            self.status = Status.PROCESSING


def opened(w: Working, e: StoredEvent, d: Submitted | Received) -> None:
    w.unit_code, w.procedure_code, w.channel = d.unit_code, d.procedure_code, d.channel
    if isinstance(d, (SubmittedV2, ReceivedV2)):
        w.receiving_unit_code = d.receiving_unit_code or w.receiving_unit_code
        # v2: the later opening event (reception) completes what the registration said.
        w.portal |= _portal_facts(d)
    proc = w.procedure_of(w.procedure_code)
    w.has_fee = w.has_fee or bool(proc and proc.fee > 0)
    w.procedure = proc.facts() if proc else None
    w.submitted_at = w.submitted_at or e.time
    if e.type == "dossier.received":  # accepted: the clock starts
        w.received_at = e.time
        # The limit in force on the day it was received, even if the catalog changed it since.
        w.due_at = w.calendar.due_at(e.time, proc.time_limit_on(e.time)) if proc else None
        w.appointment_at = w.due_at
        w.status = Status.ACCEPTED


def _portal_facts(d: PortalFacts) -> dict[str, Any]:
    """The portal facts the event states, as its wire form has them: one it leaves out (absent,
    unset, empty) keeps what the registration said."""
    return {k: v for k in PORTAL_FACTS if (v := getattr(d, k)) is not None and v is not False and v != []}


def supplement_requested(w: Working, e: StoredEvent, d: WithReason) -> None:
    w.supplement_requests += 1
    w.waiting_since = e.time
    w.status = Status.SUPPLEMENT_REQUESTED
    w.supplements.append(
        SupplementItem(requested_at=e.time, supplied_at=None, due_before=w.deadline(), due_after=None, reason=d.reason)
    )


def supplement_supplied(w: Working, e: StoredEvent, d: object) -> None:
    assert w.waiting_since is not None  # transitions.py lets this event through only while waiting
    w.paused += e.time - w.waiting_since  # supplementation stops the clock
    w.waiting_since = None
    w.supplements[-1] = w.supplements[-1].model_copy(update={"supplied_at": e.time, "due_after": w.deadline()})
    w.resume()


def fee_requested(w: Working, e: StoredEvent, d: FeeRequested) -> None:
    w.has_fee = True
    w.status = Status.FEE_REQUESTED
    w.fees.append(FeeItem(amount=d.amount, fee_type=d.fee_type))


def fee_paid(w: Working, e: StoredEvent, d: FeePaid) -> None:
    w.has_fee = True
    w.paid_online = w.paid_online or d.method != PaymentMethod.OFFLINE
    w.payment_method = max(w.payment_method, int(d.method))
    if w.processed_at is not None and w.status == Status.FEE_REQUESTED:
        w.status = Status.PROCESSED  # fees asked after processing: paid, the result awaits its return
    else:
        w.resume()


def ended(w: Working, e: StoredEvent, d: object) -> None:
    w.status = ENDING[e.type]
    if w.end_at is None or e.type == "dossier.processed":  # "processed" is the preferred end
        w.end_at = e.time
    if e.type == "dossier.processed":
        w.processed_at = e.time


def extended(w: Working, e: StoredEvent, d: Extended) -> None:
    w.appointment_at = d.new_due_at
    if w.rules.extension_moves_due_date:
        w.due_at = w.appointment_at


def returned(w: Working, e: StoredEvent, d: object) -> None:
    w.status = Status.RETURNED
    w.returned_at = e.time
    w.end_at = w.end_at or e.time  # returned stands in when "processed" never came
    if isinstance(d, ResultReturned):  # version 2 says how
        w.return_method = d.return_method


def component(w: Working, e: StoredEvent, d: ComponentRecorded) -> None:
    w.components[d.component_code] = d


def result(w: Working, e: StoredEvent, d: ResultRecorded) -> None:
    w.result_digitized = w.result_digitized or d.digitized
    w.electronic_result = w.electronic_result or d.electronic
    if d.result_code not in w.results:
        w.results.append(d.result_code)
    w.result_facts[d.result_code] = d
    if d.document_number:  # issued in the document system
        w.document_number = f"{d.document_number}/{d.document_symbol}"
        w.document_id = d.document_id


def recalls(d: object) -> bool:
    """A document status that withdraws the issued document it names (edXML 15; version 2 only)."""
    return isinstance(d, DocumentStatusV2) and d.status_code == RECALL_AGREED


def document_status(w: Working, e: StoredEvent, d: object) -> None:
    """Only a recall agreed (edXML status 15, event version 2) changes the dossier: the document it
    names no longer stands, so its number leaves the dossier and it counts as no result (a new
    document may be issued after). Other statuses, and version 1, only show on the control sheet."""
    if not isinstance(d, DocumentStatusV2) or not recalls(d):
        return
    gone = [code for code, r in w.result_facts.items() if r.document_id == d.document_id]
    for code in gone:
        del w.result_facts[code]
        w.results.remove(code)
    if gone:
        w.result_digitized = any(r.digitized for r in w.result_facts.values())
        w.electronic_result = any(r.electronic for r in w.result_facts.values())
    if w.document_id == d.document_id:
        w.document_number = w.document_id = None


def feedback_received(w: Working, e: StoredEvent, d: FeedbackReceived) -> None:
    w.feedback_received_at[d.feedback_id] = e.time
    w.feedback_due[d.feedback_id] = d.due_at or w.calendar.due_at(e.time, FEEDBACK_LIMITS["answered"])


def feedback_handled(w: Working, e: StoredEvent, d: FeedbackHandled) -> None:
    """On time when every step kept its limit: a supplement request within 5 working days, a
    refusal within 2, the answer by its deadline (the event's, else 15 working days)."""
    feedback_id = d.feedback_id
    if feedback_id not in w.feedback_received_at:
        return  # handled before it was received (out of order): judged when the received event comes
    outcome = d.outcome or "answered"
    if e.time > w.feedback_deadline(feedback_id, outcome):
        w.feedback_late.add(feedback_id)
    if outcome != "supplement_requested" and feedback_id not in w.feedback_late:
        w.feedback_on_time.add(feedback_id)
    if d.satisfied:
        w.feedback_satisfied.add(feedback_id)


def deadline_passed(w: Working, e: StoredEvent, d: object) -> None:
    w.deadline_passed_at = e.time


def rated(w: Working, e: StoredEvent, d: Rated) -> None:
    w.disliked = d.rating == "dissatisfied"  # the latest rating counts


def nothing(w: Working, e: StoredEvent, d: object) -> None:
    """A fact that changes nothing in the fold itself: it only marks a re-fold (a new revision)."""


# Each applier takes the event's data as stored.py decodes it for the event's type.
APPLY: dict[str, Callable[[Working, StoredEvent, Any], None]] = {
    **dict.fromkeys(OPENING_TYPES, opened),
    "dossier.transferred": lambda w, e, d: w.resume(),
    "dossier.supplement_requested": supplement_requested,
    "dossier.supplement_supplied": supplement_supplied,
    "dossier.fee_requested": fee_requested,
    "dossier.fee_paid": fee_paid,
    "dossier.extended": extended,
    **dict.fromkeys(ENDING, ended),
    "dossier.result_returned": returned,
    "dossier.component_recorded": component,
    "dossier.result_recorded": result,
    "dossier.document_status": document_status,
    "dossier.deadline_passed": deadline_passed,
    "dossier.feedback_received": feedback_received,
    "dossier.feedback_handled": feedback_handled,
    "dossier.catalog_learned": nothing,
    "dossier.rated": rated,
}
