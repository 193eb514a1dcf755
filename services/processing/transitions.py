"""Which events a dossier may take in its current status (docs/domain.md §3).

An illegal event is not applied: the fold records it as an anomaly with the reason returned
here, processing publishes it to the dead-letter topic and serves it at /v1/anomalies.
"""

from __future__ import annotations

from shared.event_types import Status

ENDED = {Status.REFUSED, Status.WITHDRAWAL_REQUESTED, Status.STOPPED, Status.RETURNED}
# Facts about components and results, and the overdue timer, fit any status.
# Feedback (PAKN) and ratings may come after the result is returned, and so may the
# document system's status messages about the result document.
FACTS = {
    "dossier.document_status",
    "dossier.component_recorded",
    "dossier.result_recorded",
    "dossier.deadline_passed",
    "dossier.feedback_received",
    "dossier.feedback_handled",
    "dossier.rated",
    "dossier.catalog_learned",
}
AFTER_PROCESSED = {"dossier.result_returned", "dossier.fee_requested", "dossier.fee_paid"}


def illegal_reason(
    event_type: str, status: Status, *, opened: bool, received: bool, waiting: bool, processed: bool = False
) -> str | None:
    """Why `event_type` cannot happen now, or None when it can."""
    if event_type in FACTS:
        return None
    if event_type == "dossier.submitted":
        return "the dossier is already registered" if opened else None
    if event_type == "dossier.received":
        return "the dossier was already received" if received or status != Status.SUBMITTED else None
    if not opened:
        return "the dossier has not been registered or received yet"
    if status in ENDED:
        return f"the dossier has already ended (status {int(status)} {status.name})"
    if event_type == "dossier.refused":
        ok = status in (Status.SUBMITTED, Status.ACCEPTED)
        return None if ok else "refusal (không tiếp nhận) is only possible at reception"
    if not received:
        return "the dossier has not been received yet"
    # Processed, then fees asked (status 6): still only fees and the return may follow.
    if (status == Status.PROCESSED or processed) and event_type not in AFTER_PROCESSED:
        return "the dossier is already processed; only fees and the return of the result may follow"
    if event_type == "dossier.supplement_supplied" and not waiting:
        return "no supplementation request is pending"
    if event_type == "dossier.supplement_requested" and waiting:
        return "a supplementation request is already pending"
    return None
