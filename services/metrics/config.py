from typing import Literal

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class MetricsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    db_schema: str = "metrics"
    # The online-service group (CLGQ) of the 766 index has no public formula: pick a candidate.
    online_service_formula: Literal["procedures_online", "online_dossiers_synced"] = "procedures_online"
    # Where the dossier drill-down (state and control sheet) is read from.
    processing_url: str = "http://127.0.0.1:8002"
    # How often the Prometheus gauges of the current month's figures are computed from the rollups.
    gauge_interval_seconds: float = 60.0
