"""Stored events with their typed data: what the fold and the control sheet read.

`dossier_events` keeps each event's type and normalized data, not its version: the data model is
found from the type alone. A later version that only adds fields (the opening events, components,
results) reads every version's data; where versions differ (document status, result returned)
the data says which one it is (unknown fields are refused, so only one of them fits).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, Union

from pydantic import TypeAdapter

from shared.event_types import INTAKE_MODELS, Data, NoData


class CatalogLearned(Data):
    """processing's own `dossier.catalog_learned`: the catalog now knows this code (pending.py)."""

    code: str  # "procedure:<code>" or "unit:<code>"


# A tuple: immutable, and built for every event of every fold at half a frozen dataclass's cost.
class StoredEvent(NamedTuple):
    id: str
    type: str
    time: datetime
    data: Data


def _model_of(event_type: str) -> Any:
    versions = [model for (kind, _), model in sorted(INTAKE_MODELS.items()) if kind == event_type]
    newest = versions[-1]
    if all(issubclass(newest, older) for older in versions):
        return newest  # a superset of the older versions: it reads them all
    return Union[tuple(reversed(versions))]  # noqa: UP007 (a union built from a tuple)


_ADAPTERS: dict[str, TypeAdapter[Data]] = {
    **{kind: TypeAdapter(_model_of(kind)) for kind, _ in INTAKE_MODELS},
    # processing's own events (deadlines.py, pending.py)
    "dossier.deadline_passed": TypeAdapter(NoData),
    "dossier.catalog_learned": TypeAdapter(CatalogLearned),
}

# Decoded data by (type, stored JSON text), shared by every fold. A dossier is re-folded from all
# its events on every new fact: validating them all again each time would cost ~1 µs an event a
# fold, five times the JSON decoding it replaces. Keyed by content, so an entry is never stale (the
# same text always means the same data); emptied when full (a few tens of MB at most).
_DECODED: dict[tuple[str, str], Data] = {}
MEMO_SIZE = 50_000


def _keep(key: tuple[str, str], data: Data) -> None:
    if len(_DECODED) >= MEMO_SIZE:
        _DECODED.clear()
    _DECODED[key] = data


def stored_event(event_id: str, event_type: str, time: datetime, data: str | dict[str, Any]) -> StoredEvent:
    """A stored event from its row; `data` as stored (JSON text, memoized) or already decoded."""
    if isinstance(data, dict):
        return StoredEvent(event_id, event_type, time, _ADAPTERS[event_type].validate_python(data))
    typed = _DECODED.get((event_type, data))
    if typed is None:
        typed = _ADAPTERS[event_type].validate_json(data)
        _keep((event_type, data), typed)
    return StoredEvent(event_id, event_type, time, typed)


def remember(event_type: str, text: str, data: Data) -> None:
    """The data of an event just stored as `text`, already validated by the consumer: its folds need
    not decode it again."""
    _keep((event_type, text), data)
