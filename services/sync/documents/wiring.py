"""Starting the connector inside the sync service: its delivery worker and its inbox poller."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import cast

import httpx

from services.sync.config import SyncSettings
from services.sync.delivery import DeliveryWorker, meters
from services.sync.documents.client import HttpDocsys
from services.sync.documents.inbox import Inbox
from services.sync.documents.organs import organ
from services.sync.documents.signing import SigningKey, Verifier, load_signing_key
from services.sync.documents.tables import DOCSYS
from services.sync.portal import Portal
from shared.runtime import Runtime

METERS = meters("docsys", "document system", "/v1/documents/failures")
log = logging.getLogger(__name__)


def signing(settings: SyncSettings) -> tuple[SigningKey | None, Verifier | None]:
    """The configured signing key and trust store; a missing one is said loudly at start-up."""
    key = verifier = None
    if settings.docsys_signing_key:
        password = settings.docsys_signing_password.get_secret_value() if settings.docsys_signing_password else None
        key = load_signing_key(settings.docsys_signing_key, settings.docsys_signing_cert or None, password)
    else:
        log.warning("SYNC_DOCSYS_SIGNING_KEY unset: signing requests go out unsigned")
    if settings.docsys_trust_store:
        verifier = Verifier(settings.docsys_trust_store)
    else:
        log.error("SYNC_DOCSYS_TRUST_STORE unset: no signature can be verified, every issued document is refused")
    return key, verifier


@asynccontextmanager
async def connector(runtime: Runtime, settings: SyncSettings):
    """Run the connector's two loops for the service's lifetime; yields its client (None when off)."""
    if not settings.docsys_url:
        yield None
        return
    async with httpx.AsyncClient(base_url=settings.docsys_url, timeout=settings.docsys_timeout_seconds) as client:
        key, verifier = signing(settings)
        docsys = HttpDocsys(
            client, organ(settings.docsys_organ_id, settings.docsys_organ_name), key=key, verifier=verifier
        )
        # The worker only calls sync(), which the document system's client has as the portal's has;
        # look_up answers in its own shape (reconcile compares it with its own `differs`).
        target = cast(Portal, docsys)
        worker = DeliveryWorker(
            runtime.sessionmaker,
            target,
            runtime.topics,
            settings,
            wake=runtime.relay.wake,
            tables=DOCSYS,
            outcome=lambda topics, c: None,
            chunk=settings.docsys_chunk,
            meters=METERS,
            target="document system",
        )
        inbox = Inbox(
            runtime.sessionmaker,
            docsys,
            runtime.topics,
            poll_seconds=settings.docsys_poll_seconds,
            wake=runtime.relay.wake,
        )
        # Runtime tasks: restarted if they fail, cancelled at shutdown.
        runtime.spawn("docsys delivery", worker.run)
        runtime.spawn("docsys inbox", inbox.run)
        yield docsys
