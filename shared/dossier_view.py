"""The drill-down answer: a dossier's state, control sheet and events, as processing gives it
(GET /v1/dossiers/{code}) and metrics relays it. Both services' OpenAPI documents describe it,
and services do not import each other, so the shape lives here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag

from shared.deps import Timestamp

Verdict = Literal["early", "on_time", "late"]


class ControlSheetStep(BaseModel):
    """A hand-over (dossier.transferred): a step ends at the next hand-over or when processing ends."""

    from_unit: str
    to_unit: str
    from_official: str | None
    to_official: str | None
    handed_at: Timestamp
    due_at: Timestamp | None = Field(description="the step's due moment, when the transfer named one")
    ended_at: Timestamp | None = Field(description="None while the step is open")
    verdict: Verdict | None = Field(
        description="early (an earlier day than due), on_time or late; None while open or without a due moment"
    )


class ControlSheetDocumentStatus(BaseModel):
    """A status message of the document system about the result document, as a line of the sheet."""

    kind: Literal["document_status"]
    status: str = Field(description="the edXML StatusCode (version 2) or a word (version 1)")
    status_name: str | None = Field(description="the StatusCode's Vietnamese name")
    recall: bool = Field(description="the recall was agreed (status 15): the document is withdrawn")
    document_id: str
    note: str | None
    from_unit: str = Field(description="the unit whose document system reports it")
    to_unit: None
    from_official: None
    to_official: None
    handed_at: Timestamp
    due_at: None
    ended_at: Timestamp
    verdict: None


def _line_kind(line: Any) -> str:
    kind = line.get("kind") if isinstance(line, dict) else getattr(line, "kind", None)
    return "document_status" if kind == "document_status" else "step"


# The two kinds of line told apart by `kind` (a hand-over has none), never by trying both.
ControlSheetLine = Annotated[
    Annotated[ControlSheetStep, Tag("step")] | Annotated[ControlSheetDocumentStatus, Tag("document_status")],
    Discriminator(_line_kind),
]


class DossierEvent(BaseModel):
    id: str
    type: str
    time: Timestamp
    data: dict[str, Any]


class DossierView(BaseModel):
    state: dict[str, Any] | None = Field(
        description="the last dossier.state processing published; None when only events are known"
    )
    control_sheet: list[ControlSheetLine] = Field(description="phiếu kiểm soát quá trình, in time order")
    events: list[DossierEvent] = Field(description="in the order they happened")
