from typing import Annotated

from fastapi import Depends
from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from shared.config import STATE_BATCH, ServiceSettings
from shared.deps import app_settings


class MetricsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    db_schema: str = "metrics"
    batch_size: int = STATE_BATCH
    # How the online-service group's (CLGQ) 12 points split among 3.1, 3.2 and 3.3: not public,
    # provisional. Three numbers adding up to 12, e.g. METRICS_ONLINE_SERVICE_WEIGHTS=[4,4,4].
    online_service_weights: tuple[float, float, float] = (4.0, 4.0, 4.0)
    # Plan 617's targets per year (an operator edits a copy; None: the shipped data/targets.json).
    targets_path: str | None = None
    # Seconds the procedure catalog read from processing is reused (CLGQ 3.1/3.2).
    catalog_ttl: float = 60.0

    @field_validator("online_service_weights")
    @classmethod
    def _twelve(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if abs(sum(value) - 12) > 1e-9 or min(value) < 0:
            raise ValueError("the three weights must be >= 0 and add up to 12")
        return value

    # Where the dossier drill-down (state and control sheet) is read from.
    processing_url: str = "http://127.0.0.1:8002"
    # How often the Prometheus gauges of the current month's figures are computed from the rollups.
    gauge_interval_seconds: float = 60.0
    # How often the rollups' pending changes are summed into their buckets (rollups.py): reports
    # are exact either way (they add the changes not folded yet), and the fold holds back no
    # batch; a longer interval folds more batches at once, each bucket written once.
    rollup_fold_seconds: float = 5.0


# The settings a route reads (create_app sets them): `settings: SettingsDep`.
SettingsDep = Annotated[MetricsSettings, Depends(app_settings)]
