"""Settings every service shares; each service subclasses with its own env prefix."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = "postgresql+asyncpg://dossier:dossier@127.0.0.1:55432/dossier"
    # Each service keeps its tables in its own PostgreSQL schema (tests use unique ones).
    db_schema: str
    kafka_bootstrap: str = "127.0.0.1:19092"
    # Prepended to every topic name; tests give each run its own topics.
    topic_prefix: str = ""
    consumer_group: str = ""
    batch_size: int = 1000
    log_level: str = "INFO"
