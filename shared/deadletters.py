"""The one shape of a dead letter, whoever writes it (docs/operations.md: an operator's to-do list).

Three things end up on the `dead-letter` topic, each with the reason and the time it was refused:
- a consumed record a consumer could not apply (`unapplied_record`): where it came from (topic,
  partition, offset, key) and its bytes;
- an event processing did not apply because the dossier's status did not allow it
  (`illegal_transition`): the dossier and the event (id, type, the time it happened);
- an envelope the document system pushed or offered that sync refused (`refused_envelope`): the
  dossier if known, and the envelope's first bytes with its full size and sha256.
Fields that do not apply to a kind are left out, so each letter says only what is known.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_ABSENT = Field(default=None, exclude_if=lambda v: v is None)


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(description="The service that refused it")
    kind: Literal["unapplied_record", "illegal_transition", "refused_envelope"]
    reason: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC), description="When it was refused")
    dossier_code: str | None = _ABSENT
    # A consumed record: where it came from.
    topic: str | None = _ABSENT
    partition: int | None = _ABSENT
    offset: int | None = _ABSENT
    key: str | None = _ABSENT
    # The refused bytes as text (all of a record; the head of a large envelope, with its size and hash).
    value: str | None = _ABSENT
    value_bytes: int | None = _ABSENT
    value_sha256: str | None = _ABSENT
    source: str | None = _ABSENT  # the external system that sent it
    # An event not applied: which one, and when it happened.
    event_id: str | None = _ABSENT
    type: str | None = _ABSENT
    event_time: datetime | None = _ABSENT

    def encode(self) -> bytes:
        """The record's value: compact UTF-8 JSON, like every other message."""
        return self.model_dump_json().encode()
