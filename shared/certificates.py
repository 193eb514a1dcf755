"""Certificate expiry as a metric: every certificate in the PEM files named by WATCH_CERTIFICATES
(comma-separated paths: the edXML signing certificate, the trust store, TLS certificates…) is
exported with its notAfter time, so an alarm fires weeks before one expires (deploy/alerts.yml).
A file that cannot be read is reported with the value 0, which fires the same alarm."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from cryptography import x509
from prometheus_client import Gauge

log = logging.getLogger(__name__)

EXPIRY = Gauge(
    "certificate_expiry_timestamp_seconds",
    "When each watched certificate stops being valid (Unix time; 0: the file cannot be read)",
    ["file", "subject"],
)
RECHECK_SECONDS = 3600.0  # a renewed certificate file is picked up within the hour


def watched() -> list[Path]:
    return [Path(p.strip()) for p in os.environ.get("WATCH_CERTIFICATES", "").split(",") if p.strip()]


def refresh(paths: list[Path]) -> None:
    for path in paths:
        try:
            certificates = x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            log.error("cannot read the certificate file %s: %s", path, exc)
            EXPIRY.labels(str(path), "").set(0)
            continue
        for certificate in certificates:
            EXPIRY.labels(str(path), certificate.subject.rfc4514_string()).set(
                certificate.not_valid_after_utc.timestamp()
            )


async def watch() -> None:
    """The service's background loop (shared/runtime.py), only when files are named."""
    while True:
        refresh(watched())
        await asyncio.sleep(RECHECK_SECONDS)
