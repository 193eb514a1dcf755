"""Sync's own route dependencies (the common ones are in shared/deps.py)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from services.sync.documents.client import HttpDocsys
from services.sync.portal.client import Portal


async def app_portal(request: Request) -> Portal:
    """The portal client the service runs (its lifespan sets it)."""
    return cast(Portal, request.app.state.portal)


async def app_docsys(request: Request) -> HttpDocsys | None:
    """The document-system connector, or None when it is off (SYNC_DOCSYS_URL unset)."""
    docsys: HttpDocsys | None = request.app.state.docsys
    return docsys


PortalDep = Annotated[Portal, Depends(app_portal)]
DocsysDep = Annotated[HttpDocsys | None, Depends(app_docsys)]
