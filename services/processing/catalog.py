"""The procedure catalog (danh mục thủ tục hành chính): time limits, online level, fees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.event_types import PROCEDURE_CODE, ProcedureFacts
from services.processing.workcalendar import TimeLimit

SEED = Path(__file__).parent / "data" / "procedures.json"


class Limit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: int = Field(ge=0)
    unit: Literal["working_days", "calendar_days", "hours", "months"]


class Procedure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=PROCEDURE_CODE)
    name: str = Field(min_length=1, max_length=500)
    field: str = Field(min_length=1, max_length=200)  # lĩnh vực
    level: Literal["PROVINCE", "COMMUNE"]
    limit: Limit
    online: Literal["full", "partial", "none"]  # DVC trực tuyến toàn trình / một phần
    fee: int = Field(ge=0, description="VND; 0 when the procedure has no fee")
    result_is_document: bool = False
    online_payment: bool = False  # fees can be paid online (Cổng DVC quốc gia or the province's gateway)
    fee_data_synced: bool = False  # the fee data is synced to the national portal
    population_data_connected: bool = False  # connected to the national population database

    def facts(self) -> ProcedureFacts:
        return ProcedureFacts(
            name=self.name,
            field=self.field,
            online=self.online,
            has_fee=self.fee > 0,
            online_payment=self.online_payment,
            fee_data_synced=self.fee_data_synced,
            population_data_connected=self.population_data_connected,
        )

    @property
    def time_limit(self) -> TimeLimit:
        return TimeLimit(self.limit.amount, self.limit.unit)


def load_seed(path: str | Path | None = None) -> dict[str, Procedure]:
    raw = json.loads(Path(path or SEED).read_text(encoding="utf-8"))
    return {p["code"]: Procedure.model_validate(p) for p in raw["procedures"]}
