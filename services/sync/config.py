from typing import Annotated

from fastapi import Depends
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config import STATE_BATCH, ServiceSettings
from shared.deps import app_settings


class SyncStoreSettings(ServiceSettings):
    """What the admin commands need: where sync's tables are (no secrets)."""

    model_config = SettingsConfigDict(env_prefix="SYNC_", extra="ignore")

    db_schema: str = "sync"


class SyncSettings(SyncStoreSettings):
    batch_size: int = STATE_BATCH
    portal_url: str = "http://127.0.0.1:8005"
    portal_username: str
    portal_password: SecretStr  # no default: a secret comes from the environment
    delivery_workers: int = 2  # delivery rounds in flight at once in this process
    # Dossiers per delivery round (portal/sender.py splits it into calls). A round's database
    # and intake steps wait as long for 500 dossiers as for 200 on a busy machine: in the bench
    # sync kept up better (bench/README.md). At most 1,000: intake serves that many identities
    # per read.
    portal_chunk: int = Field(500, ge=1, le=1000)
    # The portal's dialect (docs/portal.md): the destination code header, the sending unit's
    # national identifier, the two paths, and the province's dossier-code pattern for MaHoSo.
    portal_dstcode: str = "000.00.00.H44"
    portal_madonvi: str = "000.00.00.H44"
    portal_auth_path: str = "/api/session"
    portal_service_path: str = "/api/integration"
    dossier_code_pattern: str = "{unit}-{date}-{seq}"
    # Where the applicant's clear identity is read (intake's internal endpoint) and the service
    # credential for it; unset, records go without the applicant's identity.
    intake_url: str = ""
    intake_token: SecretStr | None = None
    portal_timeout_seconds: float = 10.0
    # The portal's call quota for our account, kept by sync (portal/client.py): beyond it the portal
    # answers 429 with a Retry-After of whole seconds, and a second with nothing sent is lost. The
    # real quota is not public: 300 calls a second with a burst of 300 is our assumption (the
    # simulator's limit too); set the agreed one. 0: no pacing, 429 and Retry-After alone. The
    # burst keeps a margin of 50 below the portal's, for calls that arrive closer together than
    # they left; below that it wastes what the portal allows after a quieter spell.
    portal_calls_per_second: float = 300.0
    portal_calls_burst: int = 250
    lease_seconds: float = 60.0  # a claimed chunk is another replica's again after this (> 2 timeouts)
    idle_seconds: float = 0.05  # backlog poll interval when nothing is due (cheap: indexed, SKIP LOCKED)
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 60.0
    breaker_threshold: int = 5  # failed calls in a row that open the circuit
    breaker_cool_down_seconds: float = 1.0
    breaker_max_cool_down_seconds: float = 30.0
    failure_attempts: int = 8  # from this many failed attempts a dossier is listed as failing
    reconcile_concurrency: int = 16  # look-ups in flight: a province-month (~30,000) in minutes
    # The document-management connector (services/sync/documents): off while docsys_url is empty.
    docsys_url: str = ""
    docsys_organ_id: str = "H44"  # this dossier system's unit; its OrganId in edXML is the unit's national_id
    docsys_organ_name: str = "Hệ thống thông tin giải quyết thủ tục hành chính tỉnh Phú Thọ"
    docsys_chunk: int = 20  # signing requests per delivery round (one HTTP call each)
    docsys_timeout_seconds: float = 10.0
    docsys_poll_seconds: float = 0.5  # how often the document system is asked for its messages
    # XML-DSig (services/sync/documents/signing.py): the key and certificate that sign outgoing
    # envelopes (a PEM key with a PEM certificate file, or one PKCS#12 file .p12/.pfx with its
    # password), and the trust store (PEM certificates of the authorities whose signers are
    # accepted). Without a trust store no issued document is accepted: each is refused, with why.
    docsys_signing_key: str = ""
    docsys_signing_cert: str = ""
    docsys_signing_password: SecretStr | None = None
    docsys_trust_store: str = ""
    # An edXML envelope carries its signed file in base64: 10 MiB holds a scanned decision.
    max_body_bytes: int = 10 * 1024 * 1024
    # Failed push authentications (POST /v1/documents/inbox) per client address.
    auth_failures_per_second: float = 1.0
    auth_failures_burst: int = 20


# The settings a route reads (create_app sets them): `settings: SettingsDep`.
SettingsDep = Annotated[SyncSettings, Depends(app_settings)]
