from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class IntakeStoreSettings(ServiceSettings):
    """What the admin commands need: where intake's tables are (no secrets)."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    db_schema: str = "intake"


class IntakeSettings(IntakeStoreSettings):
    max_batch: int = 1000
    # Events stamped further in the future than this are refused (clock or data error).
    max_clock_skew_seconds: int = 300
    # The HMAC key that turns a citizen's identity number into a stable pseudonym (no default:
    # a leaked or guessable key would let anyone confirm a known CCCD number by hashing it).
    applicant_id_key: SecretStr
    # A batch of 1,000 events is ~300 KB; larger bodies are refused (413) before being parsed.
    # (The other services take 1 MiB, sync 10 MiB: shared.config and sync.config.)
    max_body_bytes: int = 2 * 1024 * 1024
    # Per API key, in this process's memory: N replicas admit up to N times this rate.
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 100
    # Failed authentications per client address (a mistyped key, a scan, a brute force): a
    # counter system that keeps failing is misconfigured, and nobody else needs more.
    auth_failures_per_second: float = 1.0
    auth_failures_burst: int = 20
