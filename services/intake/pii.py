"""The applicant's identity (chủ hồ sơ) never leaves intake in clear.

Counters may send `data.applicant = {"id_number": <CCCD, 12 digits>, "name": ...}` with
dossier.received / dossier.submitted. Before anything is stored or published intake replaces it
with `{"id_hash": HMAC-SHA256(key, id_number), "id_masked": "********1245"}` and drops the name:
the keyed hash links one citizen's dossiers without revealing the number (a plain hash of a
12-digit number is reversed by trying them all), the masked form is what a reader may display.
The clear number and name go only to the encrypted store (identity.py), for the portal's record.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.intake.identity import Clear
from shared.event_types import OPENING_TYPES, Applicant
from shared.events import EventError

WITH_APPLICANT = OPENING_TYPES


class ApplicantIn(BaseModel):
    """The applicant as counters post it (HTTP input only; never published)."""

    model_config = ConfigDict(extra="forbid")

    id_number: str = Field(pattern=r"^[0-9]{12}$", description="Căn cước công dân (CCCD), 12 digits")
    name: str | None = Field(
        default=None,
        max_length=200,
        description="Kept only in the encrypted store (identity.py), for the portal's record",
    )


def pseudonym(id_number: str, key: bytes) -> Applicant:
    digest = hmac.new(key, id_number.encode(), hashlib.sha256).hexdigest()
    # At most the last 4 digits are shown (the first ones encode the province and birth year).
    return Applicant(id_hash=digest, id_masked=f"{'*' * 8}{id_number[-4:]}")


def pseudonymize(raw: Any, key: bytes) -> tuple[Any, Clear | None]:
    """The posted event with its applicant pseudonymized (a copy), and the clear identity for
    the encrypted store (identity.py), never for anything else.

    Raise EventError naming the field if the applicant is malformed; the message never
    repeats the number.
    """
    if not isinstance(raw, dict) or raw.get("type") not in WITH_APPLICANT:
        return raw, None
    data = raw.get("data")
    if not isinstance(data, dict) or data.get("applicant") is None:
        return raw, None
    try:
        applicant = ApplicantIn.model_validate(data["applicant"])
    except ValidationError as exc:
        raise EventError(
            [
                {
                    "field": "data.applicant." + ".".join(str(p) for p in e["loc"]) if e["loc"] else "data.applicant",
                    "message": e["msg"],
                }
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from exc
    hidden = pseudonym(applicant.id_number, key)
    return {**raw, "data": {**data, "applicant": hidden.model_dump()}}, Clear(applicant.id_number, applicant.name or "")
