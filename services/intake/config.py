from typing import Annotated

from fastapi import Depends
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings
from shared.deps import app_settings


class IntakeStoreSettings(ServiceSettings):
    """What the admin commands need: where intake's tables are (no secrets)."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    db_schema: str = "intake"
    # The keys that seal the applicant's clear identity (identity.py): a file, a secret mount in
    # production. Unset: the clear identity is not kept (the portal's record goes without it).
    identity_keys_file: str = ""
    # Clear identities of dossiers closed longer than this are erased (erase-closed command).
    identity_retention_months: int = 60


class IntakeSettings(IntakeStoreSettings):
    max_batch: int = 1000
    # Services that may read the clear identity: comma-separated `name=sha256(token)`; the name
    # goes to the access log. Unset: the internal endpoint answers 503.
    service_tokens_sha256: str = ""
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


# The settings a route reads (create_app sets them): `settings: SettingsDep`.
SettingsDep = Annotated[IntakeSettings, Depends(app_settings)]
