"""Settings every service shares; each service subclasses with its own env prefix."""

from pydantic_settings import BaseSettings, SettingsConfigDict

# Batch size of the services that consume dossier states (sync, metrics). A state is ~1.8 kB on
# the wire and ~10 kB decoded: a full batch of 5,000 held ~90 MB while it was applied, and metrics'
# rebuild from the topics peaked at 273-302 MiB (bench/README.md). Live, their batches stay under
# 2,000; only a catch-up fills them.
STATE_BATCH = 2500


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = "postgresql+asyncpg://dossier:dossier@127.0.0.1:55432/dossier"
    # Each service keeps its tables in its own PostgreSQL schema (tests use unique ones).
    db_schema: str
    kafka_bootstrap: str = "127.0.0.1:19092"
    # Prepended to every topic name; tests give each run its own topics.
    topic_prefix: str = ""
    consumer_group: str = ""
    # Records per consumer batch, applied in one transaction. Big batches fold a dossier's new
    # events once, not once each, and share each round trip among more events: 1,000 -> 5,000
    # took the bench's end to end from ~4,800 to ~5,900 events/s (bench/README.md).
    batch_size: int = 5000
    log_level: str = "INFO"
    # Request bodies larger than this are refused (413) before they are read (shared/guards.py).
    max_body_bytes: int = 1024 * 1024
