"""The control sheet (phiếu kiểm soát quá trình): each hand-over and whether that step was
early (sớm hạn), on time (đúng hạn) or late (quá hạn)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from services.processing.stored import StoredEvent
from services.processing.working import ENDING, in_order
from shared.event_types import DOCUMENT_STATUS_NAMES, RECALL_AGREED, DocumentStatus, DocumentStatusV2, Transferred

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STEP_ENDS = {"dossier.transferred", *ENDING}


def step_verdict(ended_at: datetime | None, due_at: datetime | None) -> str | None:
    """early: finished on an earlier day than due; on_time: by the due moment; late: after it."""
    if ended_at is None or due_at is None:
        return None
    if ended_at.astimezone(TZ).date() < due_at.astimezone(TZ).date():
        return "early"
    return "on_time" if ended_at <= due_at else "late"


def control_sheet(events: list[StoredEvent]) -> list[dict]:
    """One row per hand-over; a step ends at the next hand-over or when processing ends."""
    steps: list[dict] = []
    documents: list[dict] = []
    for e in in_order(events):
        if e.type == "dossier.document_status":
            documents.append(document_row(e))
            continue
        if e.type not in STEP_ENDS:
            continue
        if steps and steps[-1]["ended_at"] is None:
            steps[-1]["ended_at"] = e.time
            steps[-1]["verdict"] = step_verdict(e.time, steps[-1]["due_at"])
        if isinstance(d := e.data, Transferred):
            steps.append(
                {
                    "from_unit": d.from_unit,
                    "to_unit": d.to_unit,
                    "from_official": d.from_official,
                    "to_official": d.to_official,
                    "handed_at": e.time,
                    "due_at": d.step_due_at,
                    "ended_at": None,
                    "verdict": None,
                }
            )
    return sorted(steps + documents, key=lambda row: row["handed_at"]) if documents else steps


def document_row(e: StoredEvent) -> dict:
    """A status message of the document system about the result document (arrived, accepted,
    refused, recalled…), as a line of the sheet. Version 2 carries the edXML StatusCode (its
    Vietnamese name beside it); version 1 carried a word."""
    d = e.data
    assert isinstance(d, (DocumentStatus, DocumentStatusV2))  # stored.py decodes dossier.document_status so
    status = d.status_code if isinstance(d, DocumentStatusV2) else d.status
    return {
        "kind": "document_status",
        "status": status,
        "status_name": DOCUMENT_STATUS_NAMES.get(status),
        "recall": status == RECALL_AGREED,
        "document_id": d.document_id,
        "note": d.note,
        "from_unit": d.organ_id,
        "to_unit": None,
        "from_official": None,
        "to_official": None,
        "handed_at": e.time,
        "due_at": None,
        "ended_at": e.time,
        "verdict": None,
    }
