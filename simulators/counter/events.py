"""Building counter-system events (the JSON intake accepts), one helper per event type."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


class EventFactory:
    """Events as a one-stop counter system (Bộ phận Một cửa) posts them."""

    def __init__(self, source: str, seed: int | None = None):
        self.source = source
        self._rng_uuid = uuid.UUID(int=seed) if seed is not None else None
        self._count = 0

    def _id(self) -> str:
        self._count += 1
        if self._rng_uuid is None:
            return str(uuid.uuid4())
        return str(uuid.uuid5(self._rng_uuid, str(self._count)))  # reproducible ids per seed

    def event(self, type: str, code: str, at: datetime, **data: Any) -> dict[str, Any]:
        return {
            "id": self._id(),
            "type": type,
            "version": 1,
            "source": self.source,
            "subject": code,
            "time": at.isoformat(),
            "data": data,
        }

    def received(
        self, code: str, at: datetime, *, unit: str, procedure: str, channel: int, receiving_unit: str | None = None
    ) -> dict:
        if receiving_unit is None:
            return self.event("dossier.received", code, at, unit_code=unit, procedure_code=procedure, channel=channel)
        # Version 2: received by another unit than the one handling it (outside its area).
        return self.event(
            "dossier.received",
            code,
            at,
            unit_code=unit,
            procedure_code=procedure,
            channel=channel,
            receiving_unit_code=receiving_unit,
        ) | {"version": 2}

    def component(
        self,
        code: str,
        at: datetime,
        name: str,
        *,
        digitized: bool,
        reused: bool = False,
        population: bool = False,
        personal_store: bool = False,
    ) -> dict:
        return self.event(
            "dossier.component_recorded",
            code,
            at,
            component_code=name,
            digitized=digitized,
            reused=reused,
            from_population_data=population,
            from_personal_data_store=personal_store,
        )

    def transferred(self, code: str, at: datetime, *, from_unit: str, to_unit: str) -> dict:
        return self.event("dossier.transferred", code, at, from_unit=from_unit, to_unit=to_unit)

    def supplement_requested(self, code: str, at: datetime, reason: str = "Thiếu giấy tờ") -> dict:
        return self.event("dossier.supplement_requested", code, at, reason=reason)

    def supplement_supplied(self, code: str, at: datetime) -> dict:
        return self.event("dossier.supplement_supplied", code, at)

    def fee_requested(self, code: str, at: datetime, amount: int) -> dict:
        return self.event("dossier.fee_requested", code, at, amount=amount)

    def fee_paid(self, code: str, at: datetime, amount: int, method: int) -> dict:
        return self.event("dossier.fee_paid", code, at, amount=amount, method=method)

    def result(self, code: str, at: datetime, *, electronic: bool, digitized: bool) -> dict:
        return self.event(
            "dossier.result_recorded", code, at, result_code="KQ", electronic=electronic, digitized=digitized
        )

    def processed(self, code: str, at: datetime) -> dict:
        return self.event("dossier.processed", code, at)

    def returned(self, code: str, at: datetime, method: str | None = None) -> dict:
        if method is None:
            return self.event("dossier.result_returned", code, at)
        return self.event("dossier.result_returned", code, at, return_method=method) | {"version": 2}

    def refused(self, code: str, at: datetime, reason: str = "Hồ sơ không đủ điều kiện") -> dict:
        return self.event("dossier.refused", code, at, reason=reason)

    def withdrawn(self, code: str, at: datetime, reason: str = "Công dân xin rút hồ sơ") -> dict:
        return self.event("dossier.withdrawal_requested", code, at, reason=reason)
