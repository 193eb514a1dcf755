from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class SyncSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SYNC_", extra="ignore")

    db_schema: str = "sync"
    portal_url: str = "http://127.0.0.1:8005"
    portal_username: str
    portal_password: SecretStr  # no default: a secret comes from the environment
    portal_chunk: int = 200  # records per DongBoHoSoMC call
    portal_timeout_seconds: float = 10.0
