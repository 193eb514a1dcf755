from datetime import time

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class ProcessingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROCESSING_", extra="ignore")

    db_schema: str = "processing"
    # Seed files; None means the ones shipped in services/processing/data/.
    catalog_path: str | None = None
    holidays_path: str | None = None
    # Receipts after this local time count from the next working day (off by default).
    cutoff: time | None = None
    # The portal's mechanical rule: an extension's new date replaces the due date it is judged
    # against (for a province that syncs the new date as NgayHenTra). Off: docs/domain.md §5's rule.
    extension_moves_due_date: bool = False
