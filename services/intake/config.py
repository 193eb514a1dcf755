from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    db_schema: str = "intake"
    max_batch: int = 1000
    # Events stamped further in the future than this are refused (clock or data error).
    max_clock_skew_seconds: int = 300
