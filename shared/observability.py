"""JSON logs, health/readiness probes and the Prometheus endpoint every service serves."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

# Extra fields handlers attach to log records (logger.info(..., extra={"dossier": code})).
_CONTEXT_FIELDS = ("dossier", "event_id", "topic", "partition", "offset")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({f: getattr(record, f) for f in _CONTEXT_FIELDS if hasattr(record, f)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel("WARNING")
    # httpx logs every request at INFO: a line per portal call (thousands a minute under load)
    # says nothing the metrics do not, and costs CPU. Failures are logged by their callers.
    logging.getLogger("httpx").setLevel("WARNING")


Check = Callable[[], Awaitable[None]]


async def _not_started() -> None:
    raise RuntimeError("the service is still starting")


class Readiness(BaseModel):
    ready: bool
    failures: dict[str, str] = Field(description="per failing check, the error (empty when ready)")


def health_router() -> APIRouter:
    """/health: the process is up. /ready: every dependency answers. /metrics: Prometheus.

    Readiness runs the checks of the service's runtime (app.state.runtime.checks()).
    """
    router = APIRouter(tags=["operations"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    @router.get("/ready", responses={503: {"model": Readiness, "description": "Not ready: the failures say why"}})
    async def ready(request: Request, response: Response) -> Readiness:
        """Readiness: the database, the broker and the background workers are healthy."""
        failures: dict[str, str] = {}
        runtime = getattr(request.app.state, "runtime", None)
        checks = runtime.checks() if runtime else {"runtime": _not_started}
        for name, check in checks.items():
            try:
                await check()
            except Exception as exc:  # report, never raise: this is a probe
                failures[name] = f"{type(exc).__name__}: {exc}"[:300]
        if failures:
            response.status_code = 503
        return Readiness(ready=not failures, failures=failures)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
