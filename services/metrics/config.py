from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class MetricsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    db_schema: str = "metrics"
