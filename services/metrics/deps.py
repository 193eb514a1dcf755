"""Metrics' own route dependencies (the common ones are in shared/deps.py)."""

from __future__ import annotations

from typing import Annotated, cast

import httpx
from fastapi import Depends, Request

from services.metrics.catalog import CatalogView


async def app_processing(request: Request) -> httpx.AsyncClient:
    """The HTTP client to processing (the drill-down, the procedure catalog), set by the lifespan."""
    return cast(httpx.AsyncClient, request.app.state.processing)


async def app_catalog(request: Request) -> CatalogView:
    """The procedure catalog read from processing and kept for a while, set by create_app."""
    return cast(CatalogView, request.app.state.catalog)


ProcessingDep = Annotated[httpx.AsyncClient, Depends(app_processing)]
CatalogDep = Annotated[CatalogView, Depends(app_catalog)]
